// Passkeys (WebAuthn) on the sign-up, sign-in and "My passkeys" pages. Each section marked
// data-passkey-ceremony="signup|signin|add" runs one ceremony when its form is sent:
//   1. POST …/options (JSON, the page's CSRF token in X-CSRFToken) -> {publicKey: options},
//      binary fields base64url-encoded;
//   2. navigator.credentials.create() or .get() with those options (the browser asks for
//      the fingerprint, face or screen lock);
//   3. POST the answer (the credential as JSON, binary fields base64url) to the ceremony's
//      endpoint; the server verifies it and signs the browser in.
// Every failure is said in the section's alert, in words; the API-token forms stay usable.
(function () {
  "use strict";

  var ENDPOINTS = {
    signup: { options: "/passkeys/signup/options", finish: "/passkeys/signup" },
    signin: { options: "/passkeys/signin/options", finish: "/passkeys/signin" },
    add: { options: "/account/passkeys/options", finish: "/account/passkeys" }
  };
  var FALLBACK = {
    signup: " You can create an account with the form below instead.",
    signin: " You can sign in with your API token below instead.",
    add: ""
  };

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var text = atob(base64);
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) { bytes[i] = text.charCodeAt(i); }
    return bytes.buffer;
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      var out = { type: item.type, id: fromBase64url(item.id) };
      if (item.transports) { out.transports = item.transports; }
      return out;
    });
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = fromBase64url(json.challenge);
    options.user = Object.assign({}, json.user, { id: fromBase64url(json.user.id) });
    options.excludeCredentials = descriptors(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = fromBase64url(json.challenge);
    options.allowCredentials = descriptors(json.allowCredentials);
    return options;
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(response.clientDataJSON) }
    };
    if (credential.authenticatorAttachment) {
      out.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (response.attestationObject) {
      out.response.attestationObject = toBase64url(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = toBase64url(response.authenticatorData);
      out.response.signature = toBase64url(response.signature);
      if (response.userHandle) { out.response.userHandle = toBase64url(response.userHandle); }
    }
    return out;
  }

  // A refusal from the server (problem JSON), or a page that is not JSON (an expired form).
  function ServerRefusal(message) { this.message = message; }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body)
    }).then(function (response) {
      var type = response.headers.get("content-type") || "";
      if (response.redirected && response.url.indexOf("/signin") !== -1) {
        throw new ServerRefusal("You are no longer signed in. Please sign in again.");
      }
      if (type.indexOf("json") === -1) {
        throw new ServerRefusal(response.status === 403
          ? "This page has expired. Reload it and try again."
          : "The server could not handle the request (" + response.status + "). Please try again.");
      }
      return response.json().then(function (data) {
        if (!response.ok) { throw new ServerRefusal(data.detail || "The request was refused."); }
        return data;
      });
    });
  }

  function browserMessage(error, kind) {
    var name = error && error.name;
    if (name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out.";
    }
    if (name === "InvalidStateError") {
      return "This device already holds a passkey for this account.";
    }
    if (name === "SecurityError") {
      return "This browser refused to use a passkey for this address.";
    }
    if (name === "NotSupportedError") {
      return "This device cannot make the kind of passkey this site needs.";
    }
    if (name === "AbortError") {
      return "The passkey request was interrupted.";
    }
    return "The passkey could not be " + (kind === "signin" ? "used" : "created") + " (" + (name || "unknown error") + ").";
  }

  function unavailableReason() {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      return "This browser cannot use passkeys.";
    }
    if (!window.isSecureContext) {
      return "Passkeys need a secure (https) connection.";
    }
    var host = window.location.hostname;
    if (/^[0-9.]+$/.test(host) || host.indexOf(":") !== -1 || host.charAt(0) === "[") {
      return "Passkeys need this site to be opened by its name (for example http://localhost:"
        + (window.location.port || "80") + "), not by an IP address.";
    }
    return null;
  }

  function showError(section, text) {
    var alert = section.querySelector("[data-passkey-error]");
    alert.textContent = text;
    alert.hidden = false;
  }

  function clearError(section) {
    var alert = section.querySelector("[data-passkey-error]");
    alert.textContent = "";
    alert.hidden = true;
  }

  function fields(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (element) {
      if (element.name && element.value.trim() !== "") { body[element.name] = element.value.trim(); }
    });
    return body;
  }

  function signedUp(section, data) {
    var done = document.getElementById("passkey-signup-done");
    var main = done.parentNode;
    Array.prototype.forEach.call(main.children, function (child) {
      if (child !== done && child.tagName !== "H1") { child.hidden = true; }
    });
    document.getElementById("passkey-new-token").value = data.token;
    done.hidden = false;
    document.getElementById("passkey-signup-done-heading").focus();
    showSignedInNavigation();
  }

  // The page was drawn signed out: take the navigation of a signed-in page instead.
  function showSignedInNavigation() {
    fetch("/account/passkeys", { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector(".site-header nav");
      var current = document.querySelector(".site-header nav");
      if (fresh && current) { current.replaceWith(document.importNode(fresh, true)); }
    }).catch(function () { /* the old navigation stays; the next page has the new one */ });
  }

  function run(section, kind, form, button) {
    var endpoints = ENDPOINTS[kind];
    var body = fields(form);
    if (kind === "signup" && !body.display_name) {
      showError(section, "Please choose a nickname first.");
      form.elements.display_name.focus();
      return;
    }
    button.disabled = true;
    clearError(section);
    post(endpoints.options, body).then(function (data) {
      if (kind === "signin") {
        return navigator.credentials.get({ publicKey: requestOptions(data.publicKey) });
      }
      return navigator.credentials.create({ publicKey: creationOptions(data.publicKey) });
    }).then(function (credential) {
      var answer = { credential: credentialJSON(credential) };
      if (kind === "signin") { answer.next = form.getAttribute("data-next") || "/intents"; }
      return post(endpoints.finish, answer);
    }).then(function (data) {
      if (kind === "signup") {
        signedUp(section, data);
      } else {
        window.location.assign(data.next || "/intents");
      }
    }).catch(function (error) {
      button.disabled = false;
      var text = error instanceof ServerRefusal ? error.message : browserMessage(error, kind);
      showError(section, text + FALLBACK[kind]);
    });
  }

  function setUp(section) {
    var kind = section.getAttribute("data-passkey-ceremony");
    var form = section.querySelector("[data-passkey-form]");
    var button = form.querySelector('button[type="submit"]');
    var reason = unavailableReason();
    if (reason) {
      button.disabled = true;
      showError(section, reason + FALLBACK[kind]);
      return;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      run(section, kind, form, button);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-ceremony]"), setUp);
})();
