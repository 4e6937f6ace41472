"""agentrt's configuration: ``$AGENTRT_HOME/config.toml``, profiles, providers and overrides.

``load_config`` returns one frozen ``Config``; ``ConfigError`` (a ``ValueError``) names the dotted
key and the file or flag a bad value came from. Only the standard library is imported.
"""

from agentrt.config.errors import ConfigError
from agentrt.config.load import (
    DEFAULT_MODEL,
    DEFAULT_PROVIDER,
    Config,
    agentrt_home,
    load_config,
    parse_override,
)
from agentrt.config.providers import ProviderConfig, api_key_for, headers_for

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
