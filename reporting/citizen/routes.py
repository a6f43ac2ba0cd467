# SCAFFOLD: replaced by the citizen slice.
from flask import Blueprint
from ..authz import PUBLIC, access
bp = Blueprint("citizen", __name__)

@bp.get("/")
@access(PUBLIC)
def home():
    return "covidmeter"

@bp.get("/login")
@access(PUBLIC)
def login():
    return "login"
