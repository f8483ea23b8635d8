"""Web forms; Flask-WTF adds and checks the csrf_token field on each."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class DecisionForm(FlaskForm):
    decision = RadioField(
        "Decision",
        choices=[SelectChoice("approve", "Approve"), SelectChoice("deny", "Deny")],
        validators=[DataRequired(message="Choose approve or deny.")],
    )
    comment = TextAreaField("Comment", validators=[Length(max=10_000)])
