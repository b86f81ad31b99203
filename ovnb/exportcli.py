"""``optimum-cli``, with optimum-intel's transformers-version ceiling lifted for some model types.

optimum-intel 2.2.0 refuses to export some architectures under transformers 5 (their export configs
carry ``MAX_TRANSFORMERS_VERSION = "5.0"``) though the export works: Qwen2-VL was exported and run
in openvino_genai here. ``ovnb.export`` runs this module as its child process instead of optimum-cli
for such models; the parent never imports torch or optimum, and the installed package is untouched.

Usage: ``python -m ovnb.exportcli MODEL_TYPE export openvino ...`` (optimum-cli's own arguments).
"""
from __future__ import annotations

import functools
import sys


def lift_version_ceiling(model_type: str, task: str) -> None:
    """Remove the transformers-version ceiling of ``model_type``'s OpenVINO export config."""
    import optimum.exporters.openvino  # noqa: F401  (registers the OpenVINO export configs)
    from optimum.exporters.tasks import TasksManager

    constructor = TasksManager.get_exporter_config_constructor(
        exporter="openvino", model_type=model_type, task=task, library_name="transformers")
    config_class = constructor.func if isinstance(constructor, functools.partial) else constructor
    config_class.MAX_TRANSFORMERS_VERSION = None


def main(argv: list[str]) -> None:
    model_type, cli_args = argv[0], argv[1:]
    task = cli_args[cli_args.index("--task") + 1]
    lift_version_ceiling(model_type, task)
    from optimum.commands.optimum_cli import main as optimum_cli

    sys.argv = ["optimum-cli", *cli_args]
    optimum_cli()


if __name__ == "__main__":
    main(sys.argv[1:])
