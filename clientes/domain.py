"""Customer accounts: the rules, free of any framework."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cuentas.cuenta import VERIFICACION, Cuenta, normalize_email
from cuentas.roles import CLIENTE

ERASED_NAME = "Cliente eliminado"
PHONE_DIGITS = "telefono_digitos"
"""The stored field holding the phone's digits (``digitos_de_telefono``)."""
_LOOKS_LIKE_A_PHONE = re.compile(r"\+?[\d\s().-]+")
_MIN_PHONE_DIGITS = 3
NATIONAL_DIGITS = 9
"""The digits of a number without its country code (Spain's): a caller's
line shows +34 or not, the account may hold it either way, and these last
digits are in both."""


def digitos_de_telefono(telefono: str | None) -> str | None:
    """A phone's digits, however it was written: ``"+34 600-12 34 56"`` →
    ``"34600123456"``; None without any. Accounts are found by phone by
    these, so a caller's number matches whatever spacing either side used."""
    digits = re.sub(r"\D", "", telefono or "")
    return digits or None


def texto_de_busqueda(texto: str) -> str:
    """What a search of accounts looks for: a text written like a phone
    number (digits, spaces, dashes, brackets, a leading +; three digits at
    least) by its digits, the last ``NATIONAL_DIGITS`` of a longer one (so
    ``+34 600 12 34 56`` finds an account holding ``600 123 456``, and the
    other way round); anything else as it is."""
    if _LOOKS_LIKE_A_PHONE.fullmatch(texto.strip()):
        digits = digitos_de_telefono(texto) or ""
        if len(digits) >= _MIN_PHONE_DIGITS:
            return digits[-NATIONAL_DIGITS:]
    return texto


@dataclass
class Cliente(Cuenta):
    """A customer. ``email`` is the login and where mail goes; a new e-mail
    waits in ``email_pendiente`` until the link sent to it is followed.

    ``email_verificado``: whether the owner proved they read ``email`` (a
    verification, a password reset or a confirmed change through a link
    mailed there). Accounts registered before verification existed carry no
    such field and count as verified (they had no link to follow), unless a
    verification link is pending (``from_document``); every account
    registered since stores it, False until verified."""

    id: str
    nombre: str
    apellidos: str
    email: str | None
    password_hash: str | None
    creado_en: str
    actualizado_en: str
    fecha_nacimiento: str | None = None
    direccion: str | None = None
    telefono: str | None = None
    eliminado: bool = False
    eliminado_en: str | None = None
    email_verificado: bool = True
    email_pendiente: str | None = None
    avisos_por_correo: bool = True
    sesiones_desde: str | None = None
    enlaces: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    envios: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _rev: int | None = field(default=None, repr=False, compare=False)

    PROFILE_FIELDS: ClassVar[tuple[str, ...]] = (
        "nombre", "apellidos", "email", "fecha_nacimiento", "direccion", "telefono", "avisos_por_correo")
    rol: ClassVar[str] = CLIENTE

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Cliente":
        if "email_verificado" not in doc:
            doc = {**doc, "email_verificado": VERIFICACION not in (doc.get("enlaces") or {})}
        return super().from_document(doc)

    @property
    def puede_iniciar_sesion(self) -> bool:
        return not self.eliminado

    @property
    def invitacion_pendiente(self) -> bool:
        """Registered by staff for a caller and no password chosen yet: the
        account cannot log in until its owner sets one through the link."""
        return self.password_hash is None and not self.eliminado

    def to_document(self) -> dict[str, Any]:
        """Also the phone's digits, which a search by phone reads."""
        return {**super().to_document(), PHONE_DIGITS: digitos_de_telefono(self.telefono)}

    def actualizar_perfil(self, cambios: dict[str, Any], en: str) -> bool:
        """Apply the given profile fields (the email normalised); True when
        anything actually changed. (A customer's new e-mail takes effect
        only once confirmed: the use case passes it here then.)"""
        changed = False
        for name in self.PROFILE_FIELDS:
            if name not in cambios:
                continue
            value = normalize_email(cambios[name]) if name == "email" and cambios[name] else cambios[name]
            if getattr(self, name) != value:
                setattr(self, name, value)
                changed = True
        if changed:
            self.actualizado_en = en
        return changed

    def pedir_email(self, email: str | None, en: str) -> None:
        """``email`` (normalised) waits for its confirmation; None withdraws
        what was waiting."""
        self.email_pendiente, self.actualizado_en = (normalize_email(email) if email else None), en

    def confirmar_email(self, email: str, en: str) -> None:
        """The owner followed the link mailed to ``email``: it is the login now, verified."""
        self.actualizar_perfil({"email": email}, en)
        self.email_pendiente, self.email_verificado, self.actualizado_en = None, True, en

    def verificar_email(self, en: str) -> None:
        self.email_verificado, self.actualizado_en = True, en

    def anular_enlaces(self) -> None:
        """Every link goes, and with the change link the e-mail it would confirm."""
        super().anular_enlaces()
        self.email_pendiente = None

    def eliminar(self, en: str) -> None:
        """Right to erasure: personal data goes, the id stays so that the
        incident services can anonymise what they hold about it."""
        self.nombre, self.apellidos = ERASED_NAME, ""
        self.email = self.password_hash = self.email_pendiente = None
        self.fecha_nacimiento = self.direccion = self.telefono = None
        self.enlaces, self.envios = {}, {}
        self.eliminado, self.eliminado_en, self.actualizado_en = True, en, en

    def public_data(self) -> dict[str, Any]:
        """What other services learn about the customer through events: the
        e-mail in use (not one pending confirmation), whether they want
        e-mail, and since when their sessions count."""
        return {"id": self.id, "nombre": self.nombre, "apellidos": self.apellidos, "eliminado": self.eliminado,
                "email": self.email, "avisos_por_correo": self.avisos_por_correo,
                "sesiones_desde": self.sesiones_desde}
