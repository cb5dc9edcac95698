// Searchable pickers of the mapping editor: typing in the box above a field's list keeps only the
// options whose label or API name contains what was typed. Choosing a field reloads nothing; the
// server checks the pair when the form is saved.
document.querySelectorAll("input.picker-search").forEach(function (box) {
  var select = document.getElementById(box.dataset.pickerFor);
  if (!select) return;
  box.addEventListener("input", function () {
    var wanted = box.value.trim().toLowerCase();
    var firstShown = null;
    Array.prototype.forEach.call(select.options, function (option) {
      var shown = !option.value || !wanted || option.text.toLowerCase().indexOf(wanted) !== -1;
      option.hidden = !shown;
      if (shown && option.value && firstShown === null) firstShown = option;
    });
    if (firstShown && select.selectedOptions.length && select.selectedOptions[0].hidden) select.value = firstShown.value;
  });
});
