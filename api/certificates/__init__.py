"""Completion certificates: a job's record for people (an HTML page, a PDF) carrying the job's seals, and the
check that tells whether the record or the signature image changed after they were sealed (docs/api.md,
"Completion certificates")."""

from api.certificates.content import NotSealed
from api.certificates.embedding import UnreadableCertificate, read_seals
from api.certificates.issue import Format, certificate_filename, render_certificate, staff_certificate
from api.certificates.verification import SealCheck, VerificationReport, verify_certificate

__all__ = [
    "Format",
    "NotSealed",
    "SealCheck",
    "UnreadableCertificate",
    "VerificationReport",
    "certificate_filename",
    "read_seals",
    "render_certificate",
    "staff_certificate",
    "verify_certificate",
]
