"""Sign-up, confirmation and login by e-mail link, through the pages."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import Account, Consent, LoginToken, OutboxMessage, Profile, UserSession
from reporting.security import hash_secret

from .citizens import SIGN_UP, last_link, log_in, make_profile, outbox, sign_up_and_log_in


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_home_page_in_both_languages(app: Flask, client: FlaskClient) -> None:
    danish = client.get("/?lang=da").data.decode()
    assert '<html lang="da">' in danish and "Hjælp med at følge sygdom i Danmark" in danish
    assert 'href="/signup"' in danish and 'href="/login"' in danish
    english = client.get("/?lang=en").data.decode()
    assert '<html lang="en">' in english and "Help follow illness in Denmark" in english
    assert "Help follow" in client.get("/").data.decode()  # the choice is remembered in the session
    browser = app.test_client()
    assert "Tilmeld dig" in browser.get("/", headers={"Accept-Language": "da,en;q=0.5"}).data.decode()
    assert "Sign up" in app.test_client().get("/", headers={"Accept-Language": "en-GB"}).data.decode()


def test_sign_up_mails_a_link_and_its_confirmation_stores_account_consent_and_profile(app: Flask, client: FlaskClient) -> None:
    response = client.post("/signup?lang=en", data=SIGN_UP)
    assert response.status_code == 302 and response.headers["Location"] == "/signup/sent"
    with app.app_context():
        # Nothing is stored about the person until the address is confirmed: the link's token carries the
        # address and the answers, and names no account.
        assert db.session.scalar(select(func.count()).select_from(Account)) == 0
        token = db.session.scalar(select(LoginToken))
        assert token.purpose == "confirm" and token.used_at is None and token.account_id is None
        assert token.email == "ida@example.dk" and token.sign_up["intake_version"] == "intake-2"
        assert dt.timedelta(minutes=14) < token.expires_at - token.created_at <= dt.timedelta(minutes=15, seconds=1)
    (mail,) = outbox(app)
    assert mail.recipient == "ida@example.dk" and mail.category == "confirm" and mail.status == "pending"
    assert mail.subject == "Confirm your e-mail address for COVIDmeter"
    assert "http://localhost/signup/confirm/" in mail.body_text  # COVIDMETER_BASE_URL
    assert "/unsubscribe/" not in mail.body_text and "List-Unsubscribe" not in mail.headers  # no account yet
    path = last_link(app, "ida@example.dk")
    secret = path.rsplit("/", 1)[1]
    with app.app_context():  # only the hash is stored
        assert token.token_hash == hash_secret(secret) and secret not in token.token_hash
    assert "Check your e-mail" in client.get("/signup/sent").data.decode()
    assert client.post(path).status_code == 302
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == "ida@example.dk"))
        assert account.status == "active" and account.language == "en" and account.confirmed_at is not None
        assert [c.version for c in account.consents] == ["2026-1"]
        assert account.consents[0].given_at == token.created_at  # when the form was sent
        (profile,) = account.profiles
        assert (profile.relation, profile.birth_year, profile.sex, profile.municipality_code) == ("self", 1980, "female", 751)
        assert profile.intake_version == "intake-2"
        assert profile.intake_answers == {"birth_year": 1980, "sex": "female", "municipality": 751, "household_size": 2}
        assert 0 <= account.reminder_weekday <= 6
        assert len(profile.id) == 32 and profile.id != str(account.id)  # a random pseudonym
        spent = db.session.scalar(select(LoginToken))
        assert spent.account_id == account.id and spent.email is None and spent.sign_up is None
        assert db.session.scalar(select(OutboxMessage.account_id)) == account.id  # the mail is now the account's


def test_mail_is_in_the_language_of_the_sign_up(app: Flask, client: FlaskClient) -> None:
    client.post("/signup?lang=da", data=SIGN_UP)
    (mail,) = outbox(app)
    assert mail.subject == "Bekræft din e-mailadresse til COVIDmeter"
    assert mail.body_text.startswith("Hej\n") and "virker i 15 minutter" in mail.body_text


def test_confirmation_link_opens_a_page_and_only_a_post_spends_it(app: Flask, client: FlaskClient) -> None:
    client.post("/signup?lang=en", data=SIGN_UP)
    path = last_link(app, "ida@example.dk")
    for _ in range(3):  # a mail scanner may open the link any number of times
        page = client.get(path)
        assert page.status_code == 200 and "Confirm and log in" in page.data.decode()
        assert f'<form method="post" action="{path}">' in page.data.decode()
    assert client.get("/me").status_code == 302  # not logged in yet
    response = client.post(path)
    assert response.status_code == 302 and response.headers["Location"] == "/me"
    overview = client.get("/me")
    assert overview.status_code == 200
    assert "Your e-mail address is confirmed" in overview.data.decode()
    with app.app_context():
        account = db.session.scalar(select(Account))
        assert account.status == "active" and account.confirmed_at is not None
        assert db.session.scalar(select(LoginToken)).used_at is not None
        assert db.session.scalar(select(func.count()).select_from(UserSession).where(
            UserSession.account_id == account.id, UserSession.revoked_at.is_(None))) == 1


def test_a_link_works_once(app: Flask, client: FlaskClient) -> None:
    client.post("/signup", data=SIGN_UP)
    path = last_link(app, "ida@example.dk")
    assert client.post(path).status_code == 302
    other = app.test_client()
    assert other.get(path).status_code == 410
    again = other.post(path)
    assert again.status_code == 410 and other.get("/me").status_code == 302


def test_an_expired_link_is_refused(app: Flask, client: FlaskClient) -> None:
    client.post("/signup?lang=en", data=SIGN_UP)
    path = last_link(app, "ida@example.dk")
    with app.app_context():
        token = db.session.scalar(select(LoginToken))
        token.expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        db.session.commit()
    page = client.get(path)
    assert page.status_code == 410 and "This link cannot be used" in page.data.decode()
    assert client.post(path).status_code == 410
    assert client.get("/me").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Account)) == 0  # no account was made


def test_unknown_link_is_refused(client: FlaskClient) -> None:
    assert client.get("/login/link/not-a-real-token").status_code == 410
    assert client.post("/signup/confirm/not-a-real-token").status_code == 410


def test_sign_up_with_a_registered_address_answers_the_same_and_mails_a_login_link(app: Flask, client: FlaskClient) -> None:
    sign_up_and_log_in(app, client)
    stranger = app.test_client()
    response = stranger.post("/signup?lang=en", data={**SIGN_UP, "email": "IDA@example.dk", "birth_year": "1950"})
    assert response.status_code == 302 and response.headers["Location"] == "/signup/sent"
    assert count(app, Account) == 1 and count(app, Profile) == 1 and count(app, Consent) == 1
    with app.app_context():
        assert db.session.scalar(select(Profile)).birth_year == 1980  # nothing changed
    mail = outbox(app)[-1]
    # In the account's language (Danish, from the first sign-up), not the language of this request.
    assert mail.recipient == "ida@example.dk" and mail.subject == "Du har allerede en konto hos COVIDmeter"
    assert "/login/link/" in mail.body_text
    # The link logs the owner in.
    owner = app.test_client()
    assert owner.post(last_link(app, "ida@example.dk")).status_code == 302
    assert owner.get("/me").status_code == 200


def test_sign_up_again_before_confirming_sends_a_new_confirmation(app: Flask, client: FlaskClient) -> None:
    client.post("/signup", data=SIGN_UP)
    first = last_link(app, "ida@example.dk")
    client.post("/signup", data={**SIGN_UP, "birth_year": "1981"})
    second = last_link(app, "ida@example.dk")
    assert count(app, Account) == 0 and first != second
    assert [m.category for m in outbox(app)] == ["confirm", "confirm"]
    # Either link confirms; the first opened makes the account, the other then only logs in.
    assert client.post(second).status_code == 302
    assert app.test_client().post(first).status_code == 302
    assert count(app, Account) == 1 and count(app, Profile) == 1
    with app.app_context():
        assert db.session.scalar(select(Profile.birth_year)) == 1981


def test_login_request_does_not_reveal_whether_an_address_is_registered(app: Flask, client: FlaskClient) -> None:
    make_profile(app, "known@example.dk")
    known = client.post("/login?lang=en", data={"email": "known@example.dk"})
    unknown = client.post("/login?lang=en", data={"email": "nobody@example.dk"})
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"] == "/login/sent"
    # Both addresses get a mail (the work is the same): a login link, and word that there is no account.
    known_mail, unknown_mail = outbox(app)
    assert known_mail.recipient == "known@example.dk" and unknown_mail.recipient == "nobody@example.dk"
    assert known_mail.subject == "Dit login-link til COVIDmeter"  # the account's language
    assert "/login/link/" in known_mail.body_text and known_mail.account_id is not None
    assert unknown_mail.subject == "There is no COVIDmeter account with this address"  # the request's language
    assert "/login/link/" not in unknown_mail.body_text and "http://localhost/signup" in unknown_mail.body_text
    assert unknown_mail.account_id is None and "/unsubscribe/" not in unknown_mail.body_text
    with app.app_context():  # a token each; the unknown address's names nothing and can never be spent
        tokens = db.session.scalars(select(LoginToken).order_by(LoginToken.id)).all()
        assert [t.account_id is None for t in tokens] == [False, True]
        assert tokens[1].email is None and tokens[1].sign_up is None
    page = client.get("/login/sent").data.decode()
    assert "If the address is registered with COVIDmeter" in page


def test_login_by_link_with_next_page(app: Flask, client: FlaskClient) -> None:
    _, profile_id = make_profile(app, "known@example.dk")
    target = f"/report/{profile_id}"
    redirect = client.get(target)
    assert redirect.status_code == 302 and redirect.headers["Location"].startswith("/login?next=")
    login_page = client.get(redirect.headers["Location"]).data.decode()
    assert f'name="next" value="{target}"' in login_page
    client.post("/login", data={"email": "known@example.dk", "next": target})
    path = last_link(app, "known@example.dk")
    assert "Log in to COVIDmeter" in client.get(path + "?lang=en").data.decode()
    response = client.post(path)
    assert response.status_code == 302 and response.headers["Location"] == target
    assert client.get(target).status_code == 200


def test_login_never_redirects_off_site(app: Flask, client: FlaskClient) -> None:
    make_profile(app, "known@example.dk")
    client.post("/login", data={"email": "known@example.dk", "next": "//evil.example/x"})
    assert client.post(last_link(app, "known@example.dk")).headers["Location"] == "/me"


def test_login_form_errors(app: Flask, client: FlaskClient) -> None:
    page = client.post("/login?lang=en", data={"email": "not an address"})
    html = page.data.decode()
    assert page.status_code == 400 and 'href="#email"' in html and 'aria-invalid="true"' in html
    assert "Enter an e-mail address like name@example.dk." in html
    assert outbox(app) == []


def test_sign_up_errors_are_shown_beside_the_fields_and_nothing_is_stored(app: Flask, client: FlaskClient) -> None:
    page = client.post("/signup?lang=en", data={"email": "ida@", "birth_year": "19x0", "municipality": "9999"})
    html = page.data.decode()
    assert page.status_code == 400
    assert '<div class="error-summary" role="alert"' in html
    for anchor in ("#email", "#q-birth_year", "#q-sex-0", "#q-municipality", "#consent"):
        assert f'href="{anchor}"' in html
    assert html.index('href="#email"') < html.index('href="#q-birth_year"') < html.index('href="#consent"')
    assert 'aria-describedby="hint-birth_year err-birth_year" aria-invalid="true"' in html
    assert "You must agree to the terms to take part." in html
    assert 'value="ida@"' in html and 'value="19x0"' in html  # what was typed is kept
    assert count(app, Account) == 0 and outbox(app) == []


ACCEPTED_ADDRESSES = ("søren.kierkegaard@example.dk", "o'brien+covid@example.dk", "ida_2@æble.dk",
                      "Mette-Marie@Example.DK")
# Pasted or percent-encoded garbage, a full-width letter and the specials nobody types into an address of
# their own; the message names the character.
REFUSED_ADDRESSES = {"a%ff%fe@example.dk": "%", "ida!@example.dk": "!", "ｉda@example.dk": "ｉ", "i=da@example.dk": "=",
                     "ida{x}@example.dk": "{", "ida/x@example.dk": "/", "ida#@example.dk": "#"}


@pytest.mark.parametrize("address", ACCEPTED_ADDRESSES)
def test_sign_up_accepts_what_a_danish_user_types(app: Flask, client: FlaskClient, address: str) -> None:
    assert client.post("/signup?lang=da", data={**SIGN_UP, "email": address}).status_code == 302
    assert [m.recipient for m in outbox(app)] == [address.lower()]


@pytest.mark.parametrize(("address", "character"), REFUSED_ADDRESSES.items())
def test_sign_up_and_login_refuse_other_characters_by_name_and_change_nothing(
        app: Flask, client: FlaskClient, address: str, character: str) -> None:
    page = client.post("/signup?lang=da", data={**SIGN_UP, "email": address})
    assert page.status_code == 400
    assert f"En e-mailadresse kan ikke indeholde “{character}”" in page.get_data(as_text=True)
    page = client.post("/login?lang=en", data={"email": address})
    assert page.status_code == 400
    assert f"An e-mail address cannot contain “{character}”" in page.get_data(as_text=True)
    api = client.post("/api/v1/me/login", json={"email": address}, headers={"Accept-Language": "da"})
    assert api.status_code == 422 and api.mimetype == "application/problem+json"
    assert f"“{character}”" in api.json["errors"]["email"]
    assert count(app, Account) == 0 and outbox(app) == []


def test_sign_up_errors_in_danish(app: Flask, client: FlaskClient) -> None:
    html = client.post("/signup?lang=da", data={**SIGN_UP, "birth_year": "2015"}).data.decode()
    assert "Du skal være fyldt 18 år eller fylde 18 i år for at deltage." in html
    assert "<title>Fejl: Tilmeld dig" in html
    assert count(app, Account) == 0


def test_logout_revokes_the_session(app: Flask, client: FlaskClient) -> None:
    sign_up_and_log_in(app, client)
    assert client.get("/me").status_code == 200
    assert client.get("/logout").status_code == 405  # only a POST logs out
    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/me").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(UserSession)).revoked_at is not None


def test_logging_in_again_keeps_the_language(app: Flask, client: FlaskClient) -> None:
    make_profile(app, "known@example.dk")
    client.get("/?lang=en")
    log_in(app, client, "known@example.dk")
    assert "Your reports" in client.get("/me").data.decode()


def test_me_lists_profiles_with_this_weeks_status(app: Flask, client: FlaskClient) -> None:
    profile_id = sign_up_and_log_in(app, client)
    html = client.get("/me?lang=en").data.decode()
    assert "Not reported for this week yet." in html and f'href="/report/{profile_id}"' in html
    assert "<h2>You</h2>" in html
    assert 'action="/logout"' in html and 'name="csrf_token"' in html
