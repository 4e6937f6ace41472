"""agentrt's configuration: ``$AGENTRT_HOME/config.toml``, profiles, providers and overrides.

``load_config`` returns one frozen ``Config``; ``ConfigError`` (a ``ValueError``) names the dotted
key and the file or flag a bad value came from. Only the standard library is imported, and each
name on first use: the benchmark needs ``ProviderConfig`` only, not the TOML reader behind
``load_config``.
"""

from typing import TYPE_CHECKING

from agentrt.lazy import lazy_names

if TYPE_CHECKING:
    from agentrt.config.errors import ConfigError
    from agentrt.config.home import agentrt_home
    from agentrt.config.load import DEFAULT_MODEL, DEFAULT_PROVIDER, Config, load_config, parse_override
    from agentrt.config.providers import ProviderConfig, api_key_for, headers_for

_WHERE = {
    "ConfigError": "agentrt.config.errors",
    "DEFAULT_MODEL": "agentrt.config.load",
    "DEFAULT_PROVIDER": "agentrt.config.load",
    "Config": "agentrt.config.load",
    "agentrt_home": "agentrt.config.home",
    "load_config": "agentrt.config.load",
    "parse_override": "agentrt.config.load",
    "ProviderConfig": "agentrt.config.providers",
    "api_key_for": "agentrt.config.providers",
    "headers_for": "agentrt.config.providers",
}


__getattr__ = lazy_names(__name__, _WHERE)


__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PROVIDER",
    "Config",
    "ConfigError",
    "ProviderConfig",
    "agentrt_home",
    "api_key_for",
    "headers_for",
    "load_config",
    "parse_override",
]
