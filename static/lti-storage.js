// LTI client-side postMessage storage (lti.put_data / lti.get_data), so a launch completes when the
// browser blocks third-party cookies. The page passes its data in the #lti-storage element's data-*.
(function () {
  "use strict";
  var el = document.getElementById("lti-storage");
  if (!el) { return; }
  var data = el.dataset;
  var counter = 0;

  function storageFrame() {
    try {
      var frame = window.parent.frames[data.target];
      if (frame) { return frame; }
    } catch (error) { /* cross-origin access to the frame list can throw */ }
    return null;
  }

  // Ask once through the platform's forwarding frame (its own origin), then through the parent ("*").
  function ask(subject, payload) {
    var attempts = [];
    var frame = storageFrame();
    if (frame) { attempts.push({ win: frame, origin: data.origin }); }
    attempts.push({ win: window.parent, origin: "*" });
    function attempt(index) {
      return new Promise(function (resolve, reject) {
        if (index >= attempts.length) { reject(new Error("no reply")); return; }
        var messageId = "mkt-" + Date.now() + "-" + (counter += 1);
        var target = attempts[index];
        var timer = setTimeout(function () {
          window.removeEventListener("message", listen);
          attempt(index + 1).then(resolve, reject);
        }, 2000);
        function listen(event) {
          var reply = event.data;
          if (!reply || typeof reply !== "object" || reply.message_id !== messageId) { return; }
          if (reply.subject !== subject + ".response") { return; }
          if (target.origin !== "*" && event.origin !== target.origin) { return; }
          clearTimeout(timer);
          window.removeEventListener("message", listen);
          if (reply.error) { reject(new Error(reply.error.message || reply.error.code || "error")); }
          else { resolve(reply); }
        }
        window.addEventListener("message", listen);
        var message = Object.assign({ subject: subject, message_id: messageId }, payload);
        target.win.postMessage(message, target.origin);
      });
    }
    return attempt(0);
  }

  function show(text) {
    var status = document.getElementById("lti-status");
    if (status) { status.textContent = text; }
  }

  if (data.mode === "put") {
    Promise.all([
      ask("lti.put_data", { key: "state-" + data.state, value: data.state }),
      ask("lti.put_data", { key: "nonce-" + data.state, value: data.nonce })
    ]).catch(function () { /* the cookie may still carry the login */ })
      .then(function () { window.location.replace(data.redirect); });
  } else if (data.mode === "get") {
    Promise.all([
      ask("lti.get_data", { key: "state-" + data.state }),
      ask("lti.get_data", { key: "nonce-" + data.state })
    ]).then(function (replies) {
      if (replies[0].value !== data.state || !replies[1].value) { throw new Error("mismatch"); }
      var form = document.getElementById("lti-confirm");
      form.elements.nonce.value = replies[1].value;
      form.submit();
    }).catch(function (error) {
      var why = error && error.message === "mismatch"
        ? "the platform storage did not hold this login"
        : "the platform storage did not answer";
      show("This launch could not be confirmed: the browser blocked the tool's cookie and " + why +
           ". Open the tool again from your course, or open it in a new window.");
    });
  }
}());
