# SCAFFOLD: replaced by the staff slice.
from flask import Blueprint
from ..authz import PUBLIC, access
bp = Blueprint("staff", __name__, url_prefix="/staff")

@bp.get("/login")
@access(PUBLIC)
def login():
    return "staff login"
