"""The serving stub of an exported bundle: app factory, uvicorn runner, prediction log.

The modules of this package except this ``__init__`` are copied into every bundle (as the
``wbstub`` package) and import nothing from the workbench, so a bundle runs on its own
``requirements.txt``. This ``__init__`` is the workbench-side door: it re-exports the public
functions and translates the stub's own errors into the workbench tree at the boundary::

    _model.ModelLoadError  ->  workbench.exceptions.ModelError
    _model.BundleError     ->  workbench.exceptions.ConfigError

Heavy imports (FastAPI, uvicorn) load on first use, not on import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.exceptions import ConfigError, ModelError

from ._limits import Limits, parse_hosts
from ._model import TRUSTED_TYPES, BundleError, ModelLoadError, StubError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "STUB_MODULES",
    "TRUSTED_TYPES",
    "Limits",
    "background_server",
    "create_app",
    "limits",
    "parse_hosts",
    "run_server",
    "translated_errors",
]

# The files a bundle carries as its ``wbstub`` package (this __init__ is not one of them).
STUB_MODULES = (
    "_model.py",
    "_validate.py",
    "_observe.py",
    "_limits.py",
    "_openapi.py",
    "app.py",
    "_server.py",
)


@contextmanager
def translated_errors() -> Iterator[None]:
    """Re-raise the stub's own errors as workbench errors (``raise ... from``)."""
    try:
        yield
    except ModelLoadError as e:
        raise ModelError(str(e)) from e
    except BundleError as e:
        raise ConfigError(str(e)) from e
    except StubError as e:  # pragma: no cover - every StubError is one of the two above
        raise ConfigError(str(e)) from e


def create_app(
    bundle_dir: str | Path,
    *,
    model_uri: str | None = None,
    token: str | None = None,
    max_body_bytes: int = 1_000_000,
    log_path: str | Path | None = None,
    backend: str = "auto",
    limits: Limits | None = None,
) -> FastAPI:
    """Build the stub's FastAPI app; see :func:`workbench.serving.app.create_app`.

    Raises:
        ModelError: a model file is missing, tampered with or untrusted.
        ConfigError: the folder is not a bundle or an option is not usable.

    Example:
        >>> from fastapi.testclient import TestClient  # doctest: +SKIP
        >>> client = TestClient(create_app("exports/run-42"))  # doctest: +SKIP
    """
    from .app import create_app as _create_app

    with translated_errors():
        return _create_app(
            bundle_dir,
            model_uri=model_uri,
            token=token,
            max_body_bytes=max_body_bytes,
            log_path=log_path,
            backend=backend,
            limits=limits,
        )


def limits(**options: object) -> Limits:
    """Build :class:`Limits`, raising the workbench's ConfigError for a bad value.

    Raises:
        ConfigError: an option is out of range or an allowed host is malformed.
    """
    with translated_errors():
        return Limits(**options)  # type: ignore[arg-type]


def run_server(
    bundle_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    workers: int = 1,
    token: str | None = None,
    model_uri: str | None = None,
    log_path: str | Path | None = None,
    max_body_bytes: int = 1_000_000,
    backend: str = "auto",
    on_ready: Callable[[str], None] | None = None,
    limits: Limits | None = None,
) -> None:
    """Serve a bundle with uvicorn until interrupted; see :func:`._server.run_server`.

    Raises:
        ModelError: the model is missing, tampered with or untrusted (before the port opens).
        ConfigError: bad options (a non-loopback host without a token among them), or the
            port cannot be bound.
    """
    from ._server import run_server as _run_server

    with translated_errors():
        _run_server(
            bundle_dir,
            host=host,
            port=port,
            workers=workers,
            token=token,
            model_uri=model_uri,
            log_path=log_path,
            max_body_bytes=max_body_bytes,
            backend=backend,
            on_ready=on_ready,
            limits=limits,
        )


@contextmanager
def background_server(
    bundle_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    model_uri: str | None = None,
    log_path: str | Path | None = None,
    max_body_bytes: int = 1_000_000,
    backend: str = "auto",
    limits: Limits | None = None,
) -> Iterator[str]:
    """Serve a bundle from a thread of this process and yield its base URL (tests, notebooks).

    Raises:
        ModelError: the model is missing, tampered with or untrusted.
        ConfigError: bad options, or the server did not start.

    Example:
        >>> with background_server("exports/run-42") as url:  # doctest: +SKIP
        ...     result = run_loadtest(url + "/predict", duration_s=2, concurrency=8)
    """
    from ._server import background_server as _background_server

    with (
        translated_errors(),
        _background_server(
            bundle_dir,
            host=host,
            port=port,
            token=token,
            model_uri=model_uri,
            log_path=log_path,
            max_body_bytes=max_body_bytes,
            backend=backend,
            limits=limits,
        ) as url,
    ):
        yield url
