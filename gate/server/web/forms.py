"""Web forms; Flask-WTF adds and checks the csrf_token field on each."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)
from wtforms.widgets import CheckboxInput, ListWidget

from gate.server.models import HookToken, ReviewerGroup, User, WebAuthnCredential, Webhook
from gate.server.models.base import max_length
from gate.server.services.webauthn import MAX_RESPONSE
from gate.wire import COMMENT_LEN, GUARD_LEN, TEXT_LEN


class LoginForm(FlaskForm):
    username = StringField(
        "Username", validators=[DataRequired(), Length(max=max_length(User.username))]
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class DecisionForm(FlaskForm):
    decision = RadioField(
        "Decision",
        choices=[SelectChoice("approve", "Approve"), SelectChoice("deny", "Deny")],
        validators=[DataRequired(message="Choose approve or deny.")],
    )
    comment = TextAreaField("Comment", validators=[Length(max=10_000)])
    attest = BooleanField("I attest to this statement", false_values=("", "no", "false", "0"))
    password = PasswordField(
        "Your password (needed to approve)", validators=[Optional(), Length(max=1000)]
    )
    shown_sha256 = HiddenField(
        validators=[Optional(), Regexp(r"^[0-9a-f]{64}$", message="not a SHA-256 digest")]
    )
    # The security key's assertion (JSON), for guards with approval = "webauthn".
    webauthn_response = HiddenField(validators=[Optional(), Length(max=MAX_RESPONSE)])


class ViewedForm(FlaskForm):
    """A file's "viewed" tick: the held item, the file's path, ticked (1) or not (0)."""

    item = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=2**31 - 1)])
    path = StringField(validators=[InputRequired(), Length(max=TEXT_LEN)])
    viewed = HiddenField(validators=[AnyOf(["0", "1"])], default="1")
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=2**31 - 1)])


class LineCommentForm(FlaskForm):
    item = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=2**31 - 1)])
    path = StringField(validators=[InputRequired(), Length(max=TEXT_LEN)])
    side = SelectField(
        "Side",
        choices=[SelectChoice("new", "new (after)"), SelectChoice("old", "old (before)")],
        default="new",
    )
    line = IntegerField(
        "Line", validators=[InputRequired(message="Give a line number."), NumberRange(min=1)]
    )
    text = TextAreaField(
        "Comment on this line",
        validators=[DataRequired(message="Write the comment."), Length(max=COMMENT_LEN)],
    )
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=2**31 - 1)])


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AddUserForm(FlaskForm):
    username = StringField(
        "Username", validators=[DataRequired(), Length(max=max_length(User.username))]
    )
    name = StringField("Full name", validators=[DataRequired(), Length(max=max_length(User.name))])
    email = StringField("Email", validators=[DataRequired(), Length(max=max_length(User.email))])
    role = SelectField(
        "Role",
        choices=[
            SelectChoice("reviewer", "Reviewer"),
            SelectChoice("admin", "Admin"),
            SelectChoice("auditor", "Auditor"),
        ],
        default="reviewer",
    )
    password = PasswordField(
        "Initial password (at least 10 characters)", validators=[DataRequired(), Length(max=1000)]
    )


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password (at least 10 characters)", validators=[DataRequired(), Length(max=1000)]
    )


class TokenForm(FlaskForm):
    """A git host's hook token (host + repositories) or an agent's read token (agent)."""

    kind = RadioField(
        "Kind",
        choices=[
            SelectChoice("hook", "Hook token for a git host"),
            SelectChoice("agent-read", "Read token for an agent account (gate wait)"),
        ],
        default="hook",
        validators=[DataRequired()],
    )
    host = StringField("Git host", validators=[Optional(), Length(max=max_length(HookToken.host))])
    repositories = TextAreaField(
        "Repositories it speaks for (one per line: an exact name or a pattern like ml/*)",
        validators=[Length(max=20_000)],
    )
    all_repositories = BooleanField("Every repository (grants more than a hook needs)")
    agent = SelectField("Agent account", choices=[], validate_choice=False)
    name = StringField(
        "Label (optional)", validators=[Optional(), Length(max=max_length(HookToken.name))]
    )


class RevokeTokenForm(FlaskForm):
    confirm = BooleanField(
        "Yes, revoke it: whatever uses it is refused from now on",
        validators=[DataRequired(message="Tick the box to confirm the revocation.")],
    )


class GroupForm(FlaskForm):
    name = StringField(
        "Group name", validators=[DataRequired(), Length(max=max_length(ReviewerGroup.name))]
    )


class MembersForm(FlaskForm):
    members = MultiCheckboxField("Members", coerce=int, validate_choice=True)


class GuardGroupsForm(FlaskForm):
    guard = StringField(
        "Guard (as named in the policy)", validators=[DataRequired(), Length(max=GUARD_LEN)]
    )
    groups = MultiCheckboxField("Groups that may approve (none: any reviewer)", coerce=int)
    not_pushed_yet = BooleanField(
        "Not pushed yet: the guard is in a policy no push has brought to gate so far"
    )


class WebhookForm(FlaskForm):
    url = StringField(
        "Receiver URL", validators=[DataRequired(), Length(max=max_length(Webhook.url))]
    )
    style = SelectField(
        "Body format",
        choices=[SelectChoice("json", "Generic JSON"), SelectChoice("slack", "Slack-compatible")],
    )
    events = MultiCheckboxField("Events (none: all)")


class EnrolForm(FlaskForm):
    """A security key's registration: its label, and the browser's answer (JSON)."""

    name = StringField(
        "Name of the key (for you)",
        validators=[Optional(), Length(max=max_length(WebAuthnCredential.name))],
    )
    response = HiddenField(validators=[DataRequired(), Length(max=MAX_RESPONSE)])
