"""The harness's Hydra configs (shipped as the package ``harness.conf``).

Importing it registers the settings schema and the ``reference``, ``model``
and ``plot`` groups in Hydra's ConfigStore (defaults from
:mod:`harness.settings`), before Hydra composes ``pkg://harness.conf``.
"""

from harness.settings import register_configs

register_configs()
