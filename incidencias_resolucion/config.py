from pydantic import Field

from common.config import Settings


class ResolucionSettings(Settings):
    service_name: str = "incidencias_resolucion"
    reparto_intervalo: float = Field(
        30, gt=0, description="Seconds between sweeps that assign incidents left waiting"
    )
    plazos_intervalo: float = Field(
        60, gt=0, description="Seconds between looks at the service levels, which warn of targets at risk or run out"
    )
