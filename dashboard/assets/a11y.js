/* Accessibility fixes for Dash 4's dropdown (served from 'self'; no inline script).
 *
 * Dash 4 renders each dcc.Dropdown as a hidden-but-focusable <input aria-hidden="true"> that forwards focus to
 * a <button> named only by its current value. Screen readers should hear the control's label too, and a
 * focusable element must not be aria-hidden (WCAG 4.1.2; axe "aria-hidden-focus"). We name both by the
 * visible <label for=id> and the value, and keep them so when React re-renders. */
(function () {
    function fix(root) {
        root.querySelectorAll('.dash-dropdown-wrapper').forEach(function (wrapper) {
            var button = wrapper.querySelector('button.dash-dropdown');
            if (!button || !button.id) { return; }
            var label = document.getElementById(button.id + '-label');
            var value = document.getElementById(button.id + '-value');
            var names = [label ? label.id : null, value ? value.id : null].filter(Boolean).join(' ');
            if (names && button.getAttribute('aria-labelledby') !== names) {
                button.setAttribute('aria-labelledby', names);
            }
            var target = wrapper.querySelector('.dash-dropdown-focus-target');
            if (target) {
                if (target.hasAttribute('aria-hidden')) { target.removeAttribute('aria-hidden'); }
                if (names && target.getAttribute('aria-labelledby') !== names) {
                    target.setAttribute('aria-labelledby', names);
                }
            }
        });
    }
    function start() {
        fix(document);
        new MutationObserver(function () { fix(document); }).observe(document.body, {
            childList: true, subtree: true, attributes: true, attributeFilter: ['aria-hidden', 'aria-labelledby']});
    }
    if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', start); } else { start(); }
})();
