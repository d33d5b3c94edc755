"""railsim stands alone: a process that runs it imports neither the site (`app`) nor the predictor."""
import pkgutil
import subprocess
import sys

import railsim


def test_no_railsim_module_imports_app_or_predictor() -> None:
    modules = [f"railsim.{m.name}" for m in pkgutil.iter_modules(railsim.__path__)]
    assert {"railsim.railway", "railsim.server", "railsim.__main__"} <= set(modules)
    code = (f"import importlib, sys\nfor name in {modules!r}: importlib.import_module(name)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'app', 'predictor', 'flask', 'scipy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
