/* The course site's own script (html_js_files in _config.yml). A figure that is wider than
   the screen scrolls in its own box (course.css): that box is a tab stop while it scrolls,
   so that it can be scrolled from the keyboard (as the theme does for tables and code). */
(() => {
  const update = () => document.querySelectorAll(".readable-figure").forEach((box) => {
    if (box.scrollWidth > box.clientWidth) box.setAttribute("tabindex", "0");
    else box.removeAttribute("tabindex");
  });
  let timer = null;
  window.addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(update, 200); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", update);
  } else {
    update();
  }
  window.addEventListener("load", update);  // the images' sizes are known
})();
