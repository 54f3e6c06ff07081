from pydantic import Field

from common.config import Settings


class AperturaSettings(Settings):
    service_name: str = "incidencias_apertura"
    autocierre_dias: float = Field(7, gt=0, description="Days in resuelta before closing by itself")
    autocierre_intervalo: float = Field(60, gt=0, description="Seconds between auto-close sweeps")
    espera_dias: float = Field(7, gt=0, description="Days a question to the customer waits before the one reminder, "
                                                    "and as many more before the incident closes itself")
