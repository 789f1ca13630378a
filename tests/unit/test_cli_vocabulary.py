"""One vocabulary: the code of ``olist X`` is in the package ``olist_pipeline.X``."""

from __future__ import annotations

import argparse
import importlib

from olist_pipeline.cli import COMMAND_MODULES


def test_each_command_module_registers_the_command_named_after_its_package() -> None:
    for module_name in COMMAND_MODULES:
        package, leaf = module_name.rsplit(".", 1)
        assert leaf == "commands", module_name
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(module_name).register(sub)
        assert set(sub.choices) == {package.rsplit(".", 1)[1]}, module_name
