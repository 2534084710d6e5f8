/* Dash loads @babel/polyfill 7 (core-js 2) before any other script. Its
   feature test still counts U+180E as white space, which browsers stopped
   doing with Unicode 6.3, so it replaces the browser's parseInt, parseFloat
   and String.prototype.trim by versions that run a regular-expression trim
   on every call. plotly.js calls them for every colour and transform it
   parses: ~50 ms of each overview redraw on 2 cores. The natives are taken
   back from a fresh realm (a blank iframe); they differ from the polyfill
   only in that obsolete white space. */
(function () {
    'use strict';
    if (typeof document === 'undefined' || isNaN(parseInt('\u180E1', 10))) {
        return;  // no polyfill, or it left the natives alone
    }
    var frame = document.createElement('iframe');
    frame.style.display = 'none';
    (document.body || document.documentElement).appendChild(frame);
    var native = frame.contentWindow;
    window.parseInt = Number.parseInt = native.parseInt;
    window.parseFloat = Number.parseFloat = native.parseFloat;
    Object.defineProperty(String.prototype, 'trim', {
        value: native.String.prototype.trim, writable: true, configurable: true
    });
    frame.parentNode.removeChild(frame);
})();
