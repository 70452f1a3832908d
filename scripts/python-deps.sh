#!/usr/bin/env bash
# Makes the Python packages the reference checks need (tests/reference/requirements.txt)
# importable, installing them with pip into a folder of reclab's own when they are missing.
# Source it: it exports PYTHONPATH (and RECLAB_PYTHON, the interpreter to run them with).
#
#   RECLAB_PYTHON_DEPS  where the packages go (default: ~/.cache/reclab-python)
#   RECLAB_PYTHON       the interpreter (default: python3)

reclab_python_deps() {
  local root requirements target python modules
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  requirements="$root/tests/reference/requirements.txt"
  python="${RECLAB_PYTHON:-python3}"
  target="${RECLAB_PYTHON_DEPS:-$HOME/.cache/reclab-python}/$("$python" -c \
    'import sys; print("py%d.%d" % sys.version_info[:2])' 2>/dev/null || echo unknown)"
  if ! command -v "$python" >/dev/null; then
    echo "error: the reference checks need Python 3 ('$python' was not found); install python3" \
      "and pip, or set RECLAB_PYTHON to an interpreter" >&2
    return 1
  fi
  export RECLAB_PYTHON="$python"
  export PYTHONPATH="$target${PYTHONPATH:+:$PYTHONPATH}"
  # The import names of the requirements (numpy>=1 -> numpy).
  modules="$(sed -e 's/#.*//' -e 's/[<>=!~ ;].*//' "$requirements" | grep -v '^$' | paste -sd, -)"
  if "$python" -c "import $modules" 2>/dev/null; then
    return 0
  fi
  echo "installing the reference checks' Python packages ($modules) into $target" >&2
  if ! "$python" -m pip --version >/dev/null 2>&1; then
    echo "error: the reference checks need $modules, and '$python -m pip' is not available" \
      "to install them; install pip (e.g. apt-get install python3-pip) or those packages" >&2
    return 1
  fi
  # Our own --target folder is not the system's environment: PEP 668 does not apply to it.
  if ! PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check \
    --upgrade --target "$target" -r "$requirements" >&2; then
    echo "error: pip could not install $modules (from $requirements) into $target" >&2
    return 1
  fi
  "$python" -c "import $modules" || {
    echo "error: $modules still cannot be imported from $target" >&2
    return 1
  }
}
reclab_python_deps
