"""intentcast: an intent-casting marketplace server ("reverse advertising")."""

__version__ = "0.1.0"
