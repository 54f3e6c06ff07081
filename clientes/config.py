from common.config import IssuerSettings


class ClientesSettings(IssuerSettings):
    service_name: str = "clientes"
