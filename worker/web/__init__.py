"""onair's pages, served by `onair api` on the same port: sign-in for organisers and ops, then their
pages. Server-rendered (Jinja2, autoescaped), working without JavaScript; every rule they apply is a
service function (docs/web.md)."""
