"""FHIR R4 under /fhir: CapabilityStatement, Patient (PIXm, PDQm, $match), AuditEvent."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("fhir", __name__, url_prefix="/fhir")

from api.fhir import metadata, patient  # noqa: E402, F401
