"""Credentials at rest: encrypted with CRM_SECRET_KEY, rotated without losing a connection."""

from __future__ import annotations

import sqlalchemy as sa

from crm.errors import ErrorCode, ServiceError
from crm.models import PmsConnection
from crm.pms import secrets
from crm.settings import SECRET_FILE, Settings, get_settings
from tests.pms.conftest import API_KEY


class TestEncryption:
    def test_the_database_holds_no_plain_credential(self, session, connect):
        # given / when
        connection = connect()
        # then
        stored = session.execute(
            sa.select(PmsConnection.__table__.c.credentials_encrypted).where(
                PmsConnection.__table__.c.id == connection.id
            )
        ).scalar_one()
        assert API_KEY not in stored
        assert secrets.decrypt(stored) == {"apiKey": API_KEY}

    def test_another_key_cannot_read_them(self):
        token = secrets.encrypt({"apiKey": "k"}, settings=Settings(secret_key="one"))
        try:
            secrets.decrypt(token, settings=Settings(secret_key="two"))
        except ServiceError as exc:
            assert exc.code == ErrorCode.INVALID_INPUT
            assert "k" not in exc.message.split()
        else:
            raise AssertionError("decrypted with the wrong key")

    def test_credentials_do_not_show_in_their_repr(self):
        creds = secrets.decrypt(secrets.encrypt({"apiKey": API_KEY}))
        assert API_KEY not in repr(creds) and API_KEY not in str(creds)


class TestRotation:
    def test_rotate_re_encrypts_under_the_new_key_only(self, session, connect):
        # given a connection encrypted under the generated ./.crm-secret
        connection = connect()
        old = get_settings().resolved_secret_key()
        new = secrets.new_secret_key()
        # when
        rotated = secrets.rotate(session, new_secret=new)
        session.commit()
        secrets.install_secret_file(new, old_secret=old)
        # then the new key alone reads it, and the old key no longer does
        assert rotated == 1
        assert SECRET_FILE.read_text().strip() == new
        session.refresh(connection)
        token = connection.credentials_encrypted
        assert secrets.decrypt(token, settings=Settings(secret_key=new)) == {"apiKey": API_KEY}
        try:
            secrets.fernet_for(old).decrypt(token.encode())
        except Exception:
            pass
        else:
            raise AssertionError("the old key still opens the rotated token")
        # and the process configured from the files reads it too
        get_settings.cache_clear()
        assert secrets.decrypt(token) == {"apiKey": API_KEY}

    def test_previous_keys_still_decrypt(self):
        token = secrets.encrypt({"apiKey": "x"}, settings=Settings(secret_key="old"))
        both = Settings(secret_key="new", previous_secret_keys="old")
        assert secrets.decrypt(token, settings=both) == {"apiKey": "x"}


class TestRotationOfWebhookSecrets:
    def test_rotate_re_encrypts_webhook_endpoint_secrets_too(self, session, org, connect):
        # given a PMS connection and a webhook endpoint under the current key
        from crm.webhooks import inbox
        from crm.webhooks import secrets as webhook_secrets

        connect()
        endpoint, plain = inbox.create_endpoint(session, organization=org, provider="careportals")
        session.commit()
        old = get_settings().resolved_secret_key()
        new = secrets.new_secret_key()
        # when
        rotated = secrets.rotate(session, new_secret=new)
        session.commit()
        # then both were rewritten, and the new key alone opens the endpoint's secret
        assert rotated == 2
        session.refresh(endpoint)
        token = endpoint.secret_encrypted
        assert webhook_secrets.decrypt(token, settings=Settings(secret_key=new)) == plain
        try:
            webhook_secrets.decrypt(token, settings=Settings(secret_key=old))
        except ValueError:
            pass
        else:
            raise AssertionError("the old key still opens the rotated webhook secret")
