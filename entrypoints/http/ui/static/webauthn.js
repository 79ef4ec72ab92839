// The pages' one script: WebAuthn ceremonies, which a browser offers to script only.
// Served from the service itself (script-src 'self'); no inline script, no inline handlers.
// Elements say what to do with data attributes:
//   <button data-webauthn="passkey-login" data-options=URL data-finish=URL data-next=URL>
//     signs in with a passkey: options, navigator.credentials.get, POST the assertion as JSON,
//     then goes to data-next.
//   <button data-webauthn="assertion" data-options=URL> inside a form with a hidden input
//     name="webauthn": asks the authenticator for an assertion, puts it in that input as JSON and
//     submits the form (the second login step, a re-authentication).
//   <form data-webauthn="register" data-options=URL> with a hidden input name="credential":
//     on submit, asks for creation options with the form's re-auth fields (JSON), creates the
//     credential, puts it in that input and submits the form without the password.
// Messages go to the element [data-webauthn-status] of the form or page.
"use strict";

(function () {
  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(value) {
    const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    const text = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes.buffer;
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: fromBase64url(d.id) });
    });
  }

  function creationOptions(json) {
    const o = json.publicKey || json;
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(o);
    }
    return Object.assign({}, o, {
      challenge: fromBase64url(o.challenge),
      user: Object.assign({}, o.user, { id: fromBase64url(o.user.id) }),
      excludeCredentials: descriptors(o.excludeCredentials),
    });
  }

  function requestOptions(json) {
    const o = json.publicKey || json;
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(o);
    }
    return Object.assign({}, o, {
      challenge: fromBase64url(o.challenge),
      allowCredentials: descriptors(o.allowCredentials),
    });
  }

  // The PublicKeyCredential as the JSON API takes it (WebAuthn Level 3's toJSON form).
  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: response,
    };
  }

  async function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async function options(url, body) {
    const response = await postJSON(url, body);
    if (!response.ok) throw new Refused(response.status);
    return response.json();
  }

  function Refused(status) {
    this.status = status;
  }

  function say(scope, text) {
    const status =
      (scope && scope.querySelector("[data-webauthn-status]")) ||
      document.querySelector("[data-webauthn-status]");
    if (status) {
      status.textContent = text;
      status.hidden = !text;
    }
  }

  function failure(error) {
    if (error instanceof Refused) {
      if (error.status === 429) return "Too many attempts. Wait a little and try again.";
      if (error.status === 403) return "Your password or second factor is wrong.";
      if (error.status === 401) return "Your session has ended. Log in again.";
      return "The request was refused. Try again.";
    }
    if (error && error.name === "NotAllowedError") return "The security key or passkey was not used.";
    if (error && error.name === "InvalidStateError") return "That security key is registered already.";
    return "This browser could not use a security key or passkey.";
  }

  // The re-auth fields of a form as a JSON body: the password and at most one second factor.
  function reauthBody(form) {
    const body = {};
    ["current_password", "code", "recovery_code"].forEach(function (name) {
      const input = form.elements.namedItem(name);
      if (input && input.value) body[name] = input.value;
    });
    return body;
  }

  async function passkeyLogin(button) {
    say(null, "");
    try {
      const publicKey = requestOptions(await options(button.dataset.options));
      const credential = await navigator.credentials.get({ publicKey: publicKey });
      const response = await postJSON(button.dataset.finish, { credential: credentialJSON(credential) });
      if (!response.ok) {
        say(null, response.status === 429 ? failure(new Refused(429)) : "That passkey could not sign you in.");
        return;
      }
      window.location.assign(button.dataset.next);
    } catch (error) {
      say(null, failure(error));
    }
  }

  async function assertion(button) {
    const form = button.form;
    say(form, "");
    try {
      const publicKey = requestOptions(await options(button.dataset.options));
      const credential = await navigator.credentials.get({ publicKey: publicKey });
      form.elements.namedItem("webauthn").value = JSON.stringify(credentialJSON(credential));
      // The assertion is the second factor: a typed code would make it two.
      ["code", "recovery_code"].forEach(function (name) {
        const input = form.elements.namedItem(name);
        if (input) input.disabled = true;
      });
      form.submit();
    } catch (error) {
      say(form, failure(error));
    }
  }

  async function register(form, event) {
    event.preventDefault();
    say(form, "");
    try {
      const publicKey = creationOptions(await options(form.dataset.options, reauthBody(form)));
      const credential = await navigator.credentials.create({ publicKey: publicKey });
      form.elements.namedItem("credential").value = JSON.stringify(credentialJSON(credential));
      // The re-auth was spent on the options: the password and codes are not posted again.
      ["current_password", "code", "recovery_code"].forEach(function (name) {
        const input = form.elements.namedItem(name);
        if (input) input.disabled = true;
      });
      form.submit();
    } catch (error) {
      say(form, failure(error));
    }
  }

  function start() {
    const supported = !!(window.PublicKeyCredential && navigator.credentials);
    document.querySelectorAll("[data-webauthn]").forEach(function (element) {
      if (!supported) {
        element.hidden = true;
        return;
      }
      const kind = element.dataset.webauthn;
      if (kind === "passkey-login") {
        element.addEventListener("click", function () { passkeyLogin(element); });
      } else if (kind === "assertion") {
        element.addEventListener("click", function () {
          if (element.form.reportValidity()) assertion(element);
        });
      } else if (kind === "register") {
        element.addEventListener("submit", function (event) { register(element, event); });
      }
      element.hidden = false;
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
