"""The nginx gateway, as the tests have always imported it; it lives in `cardstream_devstack`
(run code), which `make run` uses without any test code."""

from cardstream_devstack.gateway import (
    AUTH_ABSENT,
    TEMPLATE,
    Gateway,
    GatewayConfigError,
    Upstreams,
    nginx_binary,
    render_main_conf,
    render_nginx_conf,
    render_template,
    template_values,
)

__all__ = [
    "AUTH_ABSENT",
    "TEMPLATE",
    "Gateway",
    "GatewayConfigError",
    "Upstreams",
    "nginx_binary",
    "render_main_conf",
    "render_nginx_conf",
    "render_template",
    "template_values",
]
