// The picker's filter panel is open by default only where there is room for it beside the results
// (wide screens); inside an LMS modal (about 800 x 600) the results come first and the panel stays folded.
document.addEventListener("DOMContentLoaded", function () {
  var filters = document.getElementById("picker-filters");
  if (filters && window.matchMedia("(min-width: 70rem)").matches) {
    filters.open = true;
  }
});
