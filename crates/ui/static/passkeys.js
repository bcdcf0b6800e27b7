// Passkeys on the hosted pages: the only script they load. Each ceremony
// fetches its options from the server (a form post with the page's
// anti-forgery token), asks the browser's WebAuthn API, and submits the
// answer with an ordinary form, which lands like every other form.
// Elements opt in with data attributes; without this script (or without
// WebAuthn) the passkey controls stay hidden and every other form works.
(() => {
  'use strict';
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  const fromB64url = (text) => {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  };
  const toB64url = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let binary = '';
    for (const byte of bytes) {
      binary += String.fromCharCode(byte);
    }
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  const withIds = (list) => (list || []).map((c) => ({ ...c, id: fromB64url(c.id) }));
  const requestOptions = (pk) => ({
    ...pk,
    challenge: fromB64url(pk.challenge),
    allowCredentials: withIds(pk.allowCredentials),
  });
  const creationOptions = (pk) => ({
    ...pk,
    challenge: fromB64url(pk.challenge),
    user: { ...pk.user, id: fromB64url(pk.user.id) },
    excludeCredentials: withIds(pk.excludeCredentials),
  });
  const assertionJson = (credential) => ({
    id: credential.id,
    rawId: toB64url(credential.rawId),
    type: credential.type,
    response: {
      authenticatorData: toB64url(credential.response.authenticatorData),
      clientDataJSON: toB64url(credential.response.clientDataJSON),
      signature: toB64url(credential.response.signature),
      userHandle: credential.response.userHandle
        ? toB64url(credential.response.userHandle)
        : null,
    },
    extensions: credential.getClientExtensionResults(),
  });
  const attestationJson = (credential) => ({
    id: credential.id,
    rawId: toB64url(credential.rawId),
    type: credential.type,
    response: {
      attestationObject: toB64url(credential.response.attestationObject),
      clientDataJSON: toB64url(credential.response.clientDataJSON),
      transports: credential.response.getTransports
        ? credential.response.getTransports()
        : [],
    },
    extensions: credential.getClientExtensionResults(),
  });

  // Posts the control's options form; the JSON options, or null after
  // following the server elsewhere (a step-up, an expired sign-in).
  const fetchOptions = async (control) => {
    const body = new URLSearchParams({ csrf_token: control.dataset.optionsToken });
    const response = await fetch(control.dataset.options, {
      method: 'POST',
      body,
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    if (response.redirected) {
      window.location.assign(response.url);
      return null;
    }
    if (!response.ok) {
      throw new Error('options');
    }
    return response.json();
  };

  const showError = (control, message) => {
    const target = document.getElementById(control.dataset.error);
    if (target) {
      target.textContent = message || control.dataset.failed;
      target.hidden = false;
    }
  };

  // Fills the control's answer form and submits it.
  const submitAnswer = (control, fields) => {
    const form = document.getElementById(control.dataset.form);
    for (const [name, value] of Object.entries(fields)) {
      form.elements.namedItem(name).value = value;
    }
    form.submit();
  };

  // Sign-in and the second step: navigator.credentials.get.
  let pending = null;
  const signIn = async (control, conditional) => {
    if (pending) {
      // The autofill request waits in the background: abort it first, the
      // browser allows one request at a time.
      pending.abort();
      pending = null;
    }
    const options = await fetchOptions(control);
    if (!options) {
      return;
    }
    const request = { publicKey: requestOptions(options.publicKey) };
    if (conditional) {
      pending = new AbortController();
      request.mediation = 'conditional';
      request.signal = pending.signal;
    }
    const credential = await navigator.credentials.get(request);
    pending = null;
    if (credential) {
      submitAnswer(control, {
        challenge_id: options.challenge_id,
        credential: JSON.stringify(assertionJson(credential)),
      });
    }
  };

  const register = async (control) => {
    const name = document.getElementById(control.dataset.name);
    if (!name.value.trim()) {
      name.setAttribute('aria-invalid', 'true');
      showError(control, control.dataset.nameMissing);
      name.focus();
      return;
    }
    const options = await fetchOptions(control);
    if (!options) {
      return;
    }
    const credential = await navigator.credentials.create({
      publicKey: creationOptions(options.publicKey),
    });
    if (credential) {
      submitAnswer(control, {
        challenge_id: options.challenge_id,
        passkey_name: name.value,
        credential: JSON.stringify(attestationJson(credential)),
      });
    }
  };

  const failed = (control) => (error) => {
    if (error && error.name === 'AbortError') {
      return;
    }
    showError(control);
  };

  for (const control of document.querySelectorAll('[data-passkey]')) {
    control.hidden = false;
    const kind = control.dataset.passkey;
    if (kind === 'register') {
      // The add form's own submit button: the ceremony runs first, and its
      // answer is submitted with the form.
      document.getElementById(control.dataset.form).addEventListener('submit', (event) => {
        event.preventDefault();
        register(control).catch(failed(control));
      });
      continue;
    }
    control.addEventListener('click', () => {
      signIn(control, false).catch(failed(control));
    });
    if (kind === 'sign-in' && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
        if (available) {
          signIn(control, true).catch(failed(control));
        }
      });
    }
  }
})();
