"""Turn user mistakes into one sentence on stderr and exit status 2, for ``run.py``."""

from __future__ import annotations

import os
import re
import sys
from typing import Callable

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from videoattr.errors import VideoAttrError

EXIT_USER_ERROR = 2


def describe_config_error(err: Exception) -> str:
    """One sentence for a Hydra/OmegaConf composition error (unknown group option, bad key)."""
    text = str(err)
    missing = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if missing:
        group, name = missing.groups()
        options = re.findall(r"^\t(\S+)$", text, flags=re.M)
        return f"Unknown {group} '{name}': choose one of {', '.join(options)} (files in conf/{group}/)."
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"Invalid configuration: {first.rstrip('.')}; check the key names with `python run.py --cfg job`."


def run_cli(main: Callable[[], None]) -> None:
    """Call a ``@hydra.main`` function; user errors end in one stderr line and exit status 2."""
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        main()
    except VideoAttrError as err:
        message = str(err)
    except (HydraException, OmegaConfBaseException) as err:
        message = describe_config_error(err)
    else:
        return
    sys.stderr.write(f"error: {message}\n")
    sys.exit(EXIT_USER_ERROR)
