"""gunicorn's settings (`gunicorn -c config/gunicorn.conf.py config.wsgi`, as `./dev prod` runs
it): the access log to stdout, without what identifies customers.

Searches put names and e-mails in query strings (`/inbox/?q=…`, `/api/customers/?q=…`, the
admin's lists), and the Referer header repeats the page a user came from, query and all. The
default format logs both, so an erased customer's name would outlive the erasure in log files.
This one logs the path without the query string and no Referer (docs/operations.md, Logs).
"""

accesslog = "-"
# gunicorn's default, '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"', with the
# request line (%(r)s holds the query) as method, path (%(U)s, no query) and protocol, and
# without the Referer (%(f)s); the time taken (%(M)s, ms) added.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(M)sms'
