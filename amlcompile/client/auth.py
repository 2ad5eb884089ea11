"""SDK v1 sign-in classes. amlcompile signs in to Airflow, never to Azure.

Every class takes its SDK v1 arguments (Azure credentials are accepted and ignored, with a
warning where they are given) and answers `get_authentication_header()` with the Airflow
headers amlcompile's REST client uses: a JWT obtained with `$AIRFLOW_USERNAME` /
`$AIRFLOW_PASSWORD` (or `$AIRFLOW_TOKEN`), as the project config names them. So the seed
document's `requests.post(published.endpoint, headers=auth.get_authentication_header(), ...)`
reaches a deployed pipeline. During a build nothing signs in: the header is a placeholder.
"""

from __future__ import annotations

from ..dsl import session
from ..dsl.warnings import ignored

BUILD_TIME_HEADER = {"Authorization": "Bearer <signed in when the script runs, not in a build>"}


class _AirflowAuthentication:
    _owner = "Authentication"

    def __init__(self, **azure_only):
        ignored(self._owner, **azure_only)

    def get_authentication_header(self) -> dict:
        if session.current() is not None:
            return dict(BUILD_TIME_HEADER)
        from .. import config
        from ..rest import AirflowClient

        return AirflowClient.from_config(config.load(None)).authentication_header()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(Airflow credentials from the environment)"


class InteractiveLoginAuthentication(_AirflowAuthentication):
    _owner = "InteractiveLoginAuthentication"

    def __init__(self, force=False, tenant_id=None, cloud=None):
        super().__init__(force=force, tenant_id=tenant_id, cloud=cloud)


class AzureCliAuthentication(_AirflowAuthentication):
    _owner = "AzureCliAuthentication"

    def __init__(self, cloud=None):
        super().__init__(cloud=cloud)


class ServicePrincipalAuthentication(_AirflowAuthentication):
    _owner = "ServicePrincipalAuthentication"

    def __init__(
        self,
        tenant_id=None,
        service_principal_id=None,
        service_principal_password=None,
        cloud="AzureCloud",
        _enable_caching=True,
    ):
        # The password is a secret: never kept, not even in a warning.
        super().__init__(
            tenant_id=tenant_id,
            service_principal_id=service_principal_id,
            service_principal_password=service_principal_password and "(given)",
        )


class MsiAuthentication(_AirflowAuthentication):
    _owner = "MsiAuthentication"

    def __init__(self, cloud=None, identity_config=None):
        super().__init__(cloud=cloud, identity_config=identity_config)


class TokenAuthentication(_AirflowAuthentication):
    _owner = "TokenAuthentication"

    def __init__(self, get_token_for_audience=None):
        super().__init__()


class RunDetails:
    """The notebook widget: `RunDetails(run).show()` follows the run in text."""

    def __init__(self, run_instance=None, **kwargs):
        self._run = run_instance

    def show(self, *args, **kwargs):
        wait = getattr(self._run, "wait_for_completion", None)
        if callable(wait):
            return wait(show_output=True)
        return None

    def get_widget_data(self, *args, **kwargs) -> dict:
        return {}
