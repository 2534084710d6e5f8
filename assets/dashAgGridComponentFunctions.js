/* Cell renderers of the dashboard's Dash AG Grid tables (looked up by name in
   a column's cellRenderer). Every value is rendered as text by React: no HTML
   from the data is ever interpreted. */
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

/* Navigate inside the Dash app as dcc.Link does (no page reload); a click
   with a modifier key or another button keeps the browser's behaviour. */
function relphotFollow(event, href) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey
        || event.altKey) {
        return;
    }
    event.preventDefault();
    window.history.pushState({}, '', href);
    window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));
    window.scrollTo(0, 0);
}

/* The obs id as a link to its observation page, in the row's filter. */
dagcomponentfuncs.ObservationLink = function (props) {
    var obs = props.value;
    if (obs === null || obs === undefined) {
        return '';
    }
    var filter = props.data && props.data.filter ? props.data.filter : '';
    var query = filter ? ['filter=' + encodeURIComponent(filter)] : [];
    /* the page the link is on (its query string too), for the observation
       page's breadcrumb: it accepts only its known pages, so e.g. the triage
       queue's links lead back to the queue as it was filtered */
    var here = window.location.pathname + window.location.search;
    if (window.location.pathname !== '/' && window.location.pathname.indexOf('/observation/') !== 0) {
        query.push('back=' + encodeURIComponent(here));
    }
    var href = '/observation/' + encodeURIComponent(obs) + (query.length ? '?' + query.join('&') : '');
    return React.createElement('a', {
        href: href,
        title: 'open observation ' + obs + (filter ? ' ' + filter : ''),
        onClick: function (event) { relphotFollow(event, href); },
    }, String(obs));
};
