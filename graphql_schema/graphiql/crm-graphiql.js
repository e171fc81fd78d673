// The CRM's GraphiQL: asks for the API key (or takes ?key=), checks it, then starts GraphiQL
// with a fetcher that sends it as "Authorization: Bearer <key>" with every request, the
// schema's introspection included, so the docs load at once.
(function () {
  "use strict";

  var STORAGE = "crm.graphiql.apiKey"; // this tab only (sessionStorage): shared clinic PCs
  var ENDPOINT = window.location.pathname; // the page is served at the GraphQL endpoint
  var DEFAULT_QUERY = [
    "# Contacts of your organization: press Ctrl-Enter or the run button.",
    "# The Docs button (book icon, top left) lists every type and field.",
    "query Contacts {",
    "  contacts(first: 10) {",
    "    totalCount",
    "    edges { node { id firstName lastName email phone } }",
    "  }",
    "}",
    "",
  ].join("\n");

  var root = document.getElementById("graphiql");
  var form = document.getElementById("crm-key-form");
  var input = document.getElementById("crm-key");
  var error = document.getElementById("crm-key-error");
  var status = document.getElementById("crm-key-status");
  var change = document.getElementById("crm-change-key");
  var reactRoot = null;

  function fail(message) {
    root.textContent = message;
    root.setAttribute("role", "alert");
  }

  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    fail(
      "GraphiQL's files did not load from this server (graphiql/*.js). " +
        "Run `make assets` in the service's checkout, then reload this page."
    );
    return;
  }

  // ?key=<key>, or #key=<key> (a fragment never reaches the server or a proxy's logs)
  function keyFromUrl() {
    var url = new URL(window.location.href);
    var fragment = new URLSearchParams(url.hash.slice(1));
    var key = url.searchParams.get("key") || fragment.get("key");
    if (key === null) return null;
    // out of the address bar and the history as soon as it is read
    url.searchParams.delete("key");
    fragment.delete("key");
    url.hash = fragment.toString();
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    return key.trim() || null;
  }

  function request(key, body) {
    return fetch(ENDPOINT, {
      method: "POST",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        Authorization: "Bearer " + key,
      },
      body: JSON.stringify(body),
    });
  }

  // null when the key works, else what to tell the user
  function check(key) {
    return request(key, { query: "{ __typename }" }).then(
      function (response) {
        if (response.ok) return null;
        if (response.status === 401) {
          return "This API key was not accepted (unknown or revoked). Check it and try again.";
        }
        return response
          .json()
          .then(function (body) {
            return body.errors[0].message;
          })
          .catch(function () {
            return "The server answered " + response.status + ".";
          });
      },
      function () {
        return "The server did not answer. Check the connection and try again.";
      }
    );
  }

  function askForKey(message) {
    if (reactRoot !== null) {
      reactRoot.unmount();
      reactRoot = null;
    }
    root.hidden = true;
    change.hidden = true;
    status.textContent = "";
    form.hidden = false;
    error.textContent = message || "";
    input.value = "";
    input.focus();
  }

  function start(key) {
    form.hidden = true;
    root.hidden = false;
    root.removeAttribute("role");
    change.hidden = false;
    status.textContent = "API key " + key.slice(0, 8) + "…";
    var fetcher = GraphiQL.createFetcher({
      url: ENDPOINT,
      headers: { Authorization: "Bearer " + key },
    });
    reactRoot = ReactDOM.createRoot(root);
    reactRoot.render(
      React.createElement(GraphiQL, { fetcher: fetcher, defaultQuery: DEFAULT_QUERY })
    );
  }

  function use(key, fromForm) {
    error.textContent = fromForm ? "Checking the key…" : "";
    return check(key).then(function (problem) {
      if (problem !== null) {
        window.sessionStorage.removeItem(STORAGE);
        askForKey(problem);
        return;
      }
      window.sessionStorage.setItem(STORAGE, key);
      start(key);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var key = input.value.trim();
    if (key) use(key, true);
  });
  change.addEventListener("click", function () {
    window.sessionStorage.removeItem(STORAGE);
    askForKey("");
  });

  var key = keyFromUrl() || window.sessionStorage.getItem(STORAGE);
  if (key) {
    root.textContent = "Checking the API key…";
    use(key, false);
  } else {
    askForKey("");
  }
})();
