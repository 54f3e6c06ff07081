from pydantic import Field

from common.config import Settings


class ResolucionSettings(Settings):
    service_name: str = "incidencias_resolucion"
    reparto_intervalo: float = Field(
        30, gt=0, description="Seconds between sweeps that assign incidents left waiting"
    )
