"""The web pages, server-rendered by the same Litestar app as the JSON API.

- ``config``: templates, static files, sessions, CSRF, security headers (``WebSetup``);
- ``session``: who is signed in (``current_buyer``, ``current_operator``, ``sign_in``);
- ``errors``: refusals as readable pages (``WEB_EXCEPTION_HANDLERS``);
- ``forms``: reading form posts;
- ``accounts``: start page, sign-up, sign-in with a token, sign-out;
- ``routes``: the list of web route handlers ``api/app.py`` registers.

Pages call the same services as the API (``intentcast.services``) and validate input with
the API's own request Structs; they hold no business rule of their own.
"""
