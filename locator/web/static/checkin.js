// The "I'm here" check-in: one tap posts the occupation to POST /api/v1/checkins and
// thanks the rider. Without this script the buttons submit the form to the server.
(function () {
  "use strict";
  var form = document.querySelector("form.checkin-form");
  if (!form || !window.fetch) { return; }
  var box = form.closest(".checkin");
  var status = box.querySelector(".checkin-status");
  var buttons = form.querySelectorAll("button[name=occupation]");

  function show(text, isError) {
    status.textContent = text;
    status.className = "checkin-status" + (isError ? " error" : "");
  }
  function busy(on) {
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = on; }
  }

  form.addEventListener("submit", function (ev) {
    var button = ev.submitter;
    if (!button || !button.value) { return; }  // let the browser submit the form
    ev.preventDefault();
    busy(true);
    show(form.dataset.sending, false);
    fetch(form.dataset.api, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify({code: form.dataset.code, occupation: button.value,
                            lang: form.dataset.lang})
    }).then(function (resp) {
      return resp.json().then(function (body) { return {resp: resp, body: body}; });
    }).then(function (r) {
      if (r.resp.ok) {
        var thanks = document.createElement("p");
        thanks.className = "checkin-thanks";
        thanks.setAttribute("role", "status");
        thanks.textContent = r.body.message;
        form.replaceWith(thanks);
        show("", false);
        box.dataset.checkedIn = r.body.counted ? "counted" : "repeat";
      } else {
        busy(false);
        show(r.body.detail || r.resp.statusText, true);
      }
    }).catch(function () {
      busy(false);
      show(form.dataset.offline, true);
    });
  });
})();
