"""Jinja2 templates loaded at the first page: a hub that only exchanges files (the workers under
load, `careplan load`, the benchmarks) never imports Jinja2, ~2 MB a process. The usage website
(hub.website, templates of `hub`) and the dashboard (hub.control.dashboard, of `hub.control`)
render through it alike: autoescaped, from the package's `templates/` folder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


class Templates:
    """The templates of one package, parsed once each, on first use."""

    def __init__(self, package: str) -> None:
        self.package = package
        self._environment: jinja2.Environment | None = None

    @property
    def environment(self) -> jinja2.Environment:
        if self._environment is None:
            import jinja2  # on the first page only (module docstring)

            loader = jinja2.PackageLoader(self.package, "templates")
            self._environment = jinja2.Environment(loader=loader, autoescape=True)
        return self._environment

    def render(self, template: str, **context: Any) -> str:
        return self.environment.get_template(template).render(**context)
