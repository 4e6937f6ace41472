"""agentrt: a lean Python agent runtime.

Importing this package does nothing but define the version; every subsystem is imported on use.
"""

__version__ = "0.1.0"
