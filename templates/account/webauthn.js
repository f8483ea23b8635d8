// gate's WebAuthn ceremonies: enrol a security key (account page) and sign an approval
// (request page). The server makes the options and checks every answer; this only carries
// them between the page and navigator.credentials, as base64url JSON.
"use strict";
(function () {
  function fromB64url(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
  }
  function toB64url(buffer) {
    let raw = "";
    new Uint8Array(buffer).forEach((b) => { raw += String.fromCharCode(b); });
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  async function postForm(url, form, extra) {
    const body = new URLSearchParams();
    body.set("csrf_token", form.querySelector("[name=csrf_token]").value);
    for (const [key, value] of Object.entries(extra || {})) body.set(key, value);
    const answer = await fetch(url, { method: "POST", body, credentials: "same-origin" });
    const json = await answer.json();
    if (!answer.ok) throw new Error(json.error || "the server refused");
    return json;
  }
  function descriptors(list) {
    return (list || []).map((d) => ({ ...d, id: fromB64url(d.id) }));
  }

  const enrolForm = document.getElementById("enrol-form");
  if (enrolForm) {
    const status = document.getElementById("enrol-status");
    enrolForm.addEventListener("submit", async (event) => {
      if (document.getElementById("enrol-response").value) return;
      event.preventDefault();
      try {
        status.textContent = "Touch your security key…";
        const options = await postForm(enrolForm.dataset.options, enrolForm);
        options.challenge = fromB64url(options.challenge);
        options.user.id = fromB64url(options.user.id);
        options.excludeCredentials = descriptors(options.excludeCredentials);
        const made = await navigator.credentials.create({ publicKey: options });
        document.getElementById("enrol-response").value = JSON.stringify({
          id: made.id,
          rawId: toB64url(made.rawId),
          type: made.type,
          response: {
            clientDataJSON: toB64url(made.response.clientDataJSON),
            attestationObject: toB64url(made.response.attestationObject),
            transports: made.response.getTransports ? made.response.getTransports() : [],
          },
          clientExtensionResults: made.getClientExtensionResults(),
          authenticatorAttachment: made.authenticatorAttachment || undefined,
        });
        enrolForm.submit();
      } catch (error) {
        status.textContent = "The security key was not enrolled: " + error.message;
      }
    });
  }

  const decisionForm = document.getElementById("decision-form");
  if (decisionForm && decisionForm.dataset.webauthn) {
    const status = document.getElementById("webauthn-status");
    decisionForm.addEventListener("submit", async (event) => {
      const approving = decisionForm.querySelector("[name=decision]:checked");
      const field = decisionForm.querySelector("[name=webauthn_response]");
      if (!approving || approving.value !== "approve" || field.value) return;
      event.preventDefault();
      try {
        status.textContent = "Touch your security key to sign the statement below…";
        const comment = decisionForm.querySelector("[name=comment]").value;
        const answer = await postForm(decisionForm.dataset.webauthn, decisionForm, { comment });
        const shown = document.getElementById("webauthn-statement");
        shown.textContent = answer.statement;
        shown.hidden = false;
        const options = answer.options;
        options.challenge = fromB64url(options.challenge);
        options.allowCredentials = descriptors(options.allowCredentials);
        const got = await navigator.credentials.get({ publicKey: options });
        field.value = JSON.stringify({
          id: got.id,
          rawId: toB64url(got.rawId),
          type: got.type,
          response: {
            clientDataJSON: toB64url(got.response.clientDataJSON),
            authenticatorData: toB64url(got.response.authenticatorData),
            signature: toB64url(got.response.signature),
            userHandle: got.response.userHandle ? toB64url(got.response.userHandle) : undefined,
          },
          clientExtensionResults: got.getClientExtensionResults(),
          authenticatorAttachment: got.authenticatorAttachment || undefined,
        });
        decisionForm.submit();
      } catch (error) {
        status.textContent = "Not signed, nothing was recorded: " + error.message;
      }
    });
  }
})();
