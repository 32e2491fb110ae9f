// Mounts ChatKit.js against Parley's /chatkit with the chat page's sign-in (no inline script: CSP).
(function () {
  "use strict";
  const TOKEN_KEY = "parley.token"; // the token the chat page (/) keeps after sign-in
  const root = document.getElementById("chatkit-root");
  const token = localStorage.getItem(TOKEN_KEY);
  if (!root) return;
  if (!token) {
    document.getElementById("chatkit-signin").hidden = false;
    return;
  }
  customElements.whenDefined("openai-chatkit").then(function () {
    const chatkit = document.createElement("openai-chatkit");
    chatkit.setOptions({
      api: {
        url: root.dataset.apiUrl,
        domainKey: root.dataset.domainKey,
        fetch: function (url, init) {
          const options = init || {};
          const headers = new Headers(options.headers || {});
          headers.set("Authorization", "Bearer " + token);
          return fetch(url, Object.assign({}, options, { headers: headers }));
        },
      },
    });
    root.append(chatkit);
  });
})();
