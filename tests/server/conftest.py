"""A real Lens server over stdio, driven by pytest-lsp with recorded client capabilities."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from lsp_helpers import BASE_SETTINGS, dataset_rows

REPO = Path(__file__).resolve().parents[2]


SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "server"],
    server_env={**os.environ, "PYTHONPATH": str(REPO), "LENS_LOG_LEVEL": "WARNING"},
)


@pytest.fixture()
def dataset(tmp_path) -> Path:
    path = tmp_path / "data.csv"
    path.write_text("\n".join(dataset_rows()) + "\n", encoding="utf-8")
    return path


def make_client_fixture(spec: str):
    # One server per test module: starting it and loading spaCy costs seconds; each
    # test opens its own documents, and a test that changes settings restores them.
    @pytest_lsp.fixture(config=SERVER, scope="module")
    async def client(lsp_client: LanguageClient):
        # Real clients accept dynamic registration and code-lens refreshes; pytest-lsp's has no handlers.
        lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)(lambda params: None)
        lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)(lambda params: None)
        statuses = []
        lsp_client.feature("lens/status")(lambda params: statuses.append(params))
        lsp_client.lens_statuses = statuses
        lsp_client.set_configuration({**BASE_SETTINGS, "seedColumn": "tags", "seedValue": "seed"}, section="lens")
        await lsp_client.initialize_session(types.InitializeParams(capabilities=client_capabilities(spec)))
        if spec == "neovim":
            # Neovim 0.7 can't be asked for settings (no workspace/configuration): it pushes them.
            lsp_client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
                settings={"lens": {**BASE_SETTINGS, "seedColumn": "tags", "seedValue": "seed"}}))
        yield
        await lsp_client.shutdown_session()

    return client


client = make_client_fixture("visual-studio-code")
neovim_client = make_client_fixture("neovim")


