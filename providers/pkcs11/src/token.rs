//! Talking to a PKCS#11 module through `cryptoki`: loading and initializing it once per
//! process, finding the token and the key a URI names, logging in, and the key operations.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, SlotInfo, TokenInfo};
use cryptoki::types::{AuthPin, Ulong};
use sha2::Digest as _;
use sigstore_kms_plugins::HashFunc;
use sigstore_kms_provider_kit::{ecdsa, Error, PublicKey};

use crate::config::{Pin, ENV_PIN};
use crate::uri::{ObjectType, Pkcs11Uri};

// ----- the module ------------------------------------------------------------------------------

/// One module loaded and initialized in this process, shared by every [`Module`] of its path.
struct Loaded {
    key: PathBuf,
    pkcs11: Pkcs11,
    users: usize,
    /// Whether `C_Initialize` was ours (then `C_Finalize` is ours too, when the last user goes).
    initialized_here: bool,
}

/// PKCS#11 allows one `C_Initialize` per process and module: every caller in this process
/// (several threads of an in-process provider, the CLI's commands) shares it.
static LOADED: Mutex<Vec<Loaded>> = Mutex::new(Vec::new());

/// A loaded, initialized PKCS#11 module. Dropping the last one of a module finalizes it.
pub struct Module {
    key: PathBuf,
    path: PathBuf,
    pkcs11: Pkcs11,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Module {
    /// Loads (`dlopen`) and initializes the module at `path`, or shares the one already loaded.
    pub fn open(path: &Path) -> Result<Module, Error> {
        // Two paths to one library (a symbolic link) are one module to the dynamic loader.
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = loaded.iter_mut().find(|l| l.key == key) {
            l.users += 1;
            return Ok(Module { key, path: path.to_path_buf(), pkcs11: l.pkcs11.clone() });
        }
        let pkcs11 = Pkcs11::new(path).map_err(|e| match e {
            CkError::MissingSymbol(symbol) => Error::new(format!(
                "{} is not a PKCS#11 module (it has no {symbol}): check the module path",
                path.display()
            )),
            CkError::LibraryLoading(e) => Error::new(format!("cannot load the PKCS#11 module {}: {e}", path.display())),
            e => Error::new(format!("cannot load the PKCS#11 module {}: {}", path.display(), describe(&e))),
        })?;
        let mut initialized_here = true;
        let init = |flags| pkcs11.initialize(CInitializeArgs::new(flags));
        let result = match init(CInitializeFlags::OS_LOCKING_OK) {
            // A module that cannot use the OS's locks: it serializes calls itself.
            Err(CkError::Pkcs11(RvError::CantLock, _)) => init(CInitializeFlags::empty()),
            other => other,
        };
        match result {
            Ok(()) => {}
            // Someone else in this process (a host embedding us) initialized it: leave it be.
            Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => initialized_here = false,
            Err(e) => {
                return Err(Error::new(format!(
                    "the PKCS#11 module {} failed to initialize (C_Initialize): {}{}",
                    path.display(),
                    describe(&e),
                    softhsm_hint(path)
                )))
            }
        }
        loaded.push(Loaded { key: key.clone(), pkcs11: pkcs11.clone(), users: 1, initialized_here });
        Ok(Module { key, path: path.to_path_buf(), pkcs11 })
    }

    /// The path the module was loaded from.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The module's library information: (manufacturer, description, version).
    pub fn library_info(&self) -> Result<(String, String, (u8, u8)), Error> {
        let info =
            self.pkcs11.get_library_info().map_err(|e| fail("reading the module's information (C_GetInfo)", &e))?;
        let v = info.library_version();
        Ok((info.manufacturer_id().to_owned(), info.library_description().to_owned(), (v.major(), v.minor())))
    }

    /// Every slot that holds a token, with its slot and token information.
    pub fn tokens(&self) -> Result<Vec<TokenEntry>, Error> {
        let slots = self
            .pkcs11
            .get_slots_with_token()
            .map_err(|e| fail(&format!("listing the slots of {} (C_GetSlotList)", self.path.display()), &e))?;
        let mut out = Vec::new();
        for slot in slots {
            // A slot whose token cannot be read (removed meanwhile, broken) is left out, as
            // cosign's pkcs11-tool does.
            let Ok(info) = self.pkcs11.get_token_info(slot) else { continue };
            let slot_info = self.pkcs11.get_slot_info(slot).ok();
            out.push(TokenEntry { slot, info, slot_info });
        }
        Ok(out)
    }

    /// The one token `uri` names (every token attribute it has must match).
    pub fn select_token(&self, uri: &Pkcs11Uri) -> Result<TokenEntry, Error> {
        self.check_library(uri)?;
        let all = self.tokens()?;
        let module = self.path.display();
        if let Some(id) = uri.slot_id {
            if !all.iter().any(|t| t.slot.id() == id) {
                return Err(Error::new(format!(
                    "there is no token in slot {id} (slot-id={id}) of the PKCS#11 module {module}{}",
                    available(&all)
                )));
            }
        }
        let matching: Vec<TokenEntry> = all.iter().filter(|t| t.matches(uri)).cloned().collect();
        let initialized: Vec<TokenEntry> = matching.iter().filter(|t| t.info.token_initialized()).cloned().collect();
        match (initialized.len(), matching.len()) {
            (1, _) => Ok(initialized.into_iter().next().ok_or_else(|| Error::new("no token"))?),
            (0, 0) => Err(Error::new(format!(
                "no token matches {} in the PKCS#11 module {module}{}",
                uri.describe_token(),
                available(&all)
            ))),
            (0, _) => Err(Error::new(format!(
                "the token matching {} in {module} is not initialized: initialize it first (SoftHSM: softhsm2-util --init-token --free --label LABEL; others: pkcs11-tool --module {module} --init-token)",
                uri.describe_token()
            ))),
            (n, _) => Err(Error::new(format!(
                "{n} tokens match {} in the PKCS#11 module {module}: {}; add serial= (or slot-id=) to the key URI to pick one",
                uri.describe_token(),
                initialized.iter().map(TokenEntry::describe).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    fn check_library(&self, uri: &Pkcs11Uri) -> Result<(), Error> {
        if uri.library_manufacturer.is_none() && uri.library_description.is_none() && uri.library_version.is_none() {
            return Ok(());
        }
        let (manufacturer, description, (major, minor)) = self.library_info()?;
        let mismatch = |what: &str, want: &str, have: &str| {
            Error::new(format!(
                "the PKCS#11 module {} is not the one the key URI names: its {what} is {have:?}, the URI asks for {want:?}",
                self.path.display()
            ))
        };
        if let Some(want) = &uri.library_manufacturer {
            if *want != manufacturer {
                return Err(mismatch("library-manufacturer", want, &manufacturer));
            }
        }
        if let Some(want) = &uri.library_description {
            if *want != description {
                return Err(mismatch("library-description", want, &description));
            }
        }
        if let Some((want_major, want_minor)) = uri.library_version {
            if want_major != major || want_minor.is_some_and(|m| m != minor) {
                let want = want_minor.map_or(want_major.to_string(), |m| format!("{want_major}.{m}"));
                return Err(mismatch("library-version", &want, &format!("{major}.{minor}")));
            }
        }
        Ok(())
    }

    /// Opens a session on `token` (read-write for creating keys) and logs in as `login` says.
    pub fn session(&self, token: &TokenEntry, rw: bool, pin: Option<&Pin>, login: Login) -> Result<Opened, Error> {
        let opened = if rw { self.pkcs11.open_rw_session(token.slot) } else { self.pkcs11.open_ro_session(token.slot) };
        let session = opened.map_err(|e| match e {
            CkError::Pkcs11(RvError::TokenWriteProtected, _) => {
                Error::new(format!("token {} is write-protected: keys cannot be created on it", token.describe()))
            }
            e => fail(&format!("opening a session on token {} (C_OpenSession)", token.describe()), &e),
        })?;
        let logged_in = self.login(&session, token, pin, login)?;
        Ok(Opened { session, logged_in })
    }

    fn login(&self, session: &Session, token: &TokenEntry, pin: Option<&Pin>, login: Login) -> Result<bool, Error> {
        let label = token.describe();
        let Some(pin) = pin else {
            if login == Login::Required && token.info.protected_authentication_path() {
                // A PIN pad or biometric reader: the token asks the user itself.
                return self.user_login(session, token, None, "the token's own PIN entry").map(|()| true);
            }
            if login == Login::Required && token.info.login_required() {
                return Err(Error::new(format!(
                    "token {label} needs the user PIN for its private keys: add pin-source=/path/to/pin-file \
                     (or pin-value=PIN) to the key URI's query, or set {ENV_PIN}"
                )));
            }
            return Ok(false);
        };
        if token.info.user_pin_locked() {
            return Err(locked(&label));
        }
        let auth = AuthPin::from(pin.secret.expose());
        self.user_login(session, token, Some(&auth), &pin.source).map(|()| true)
    }

    fn user_login(
        &self,
        session: &Session,
        token: &TokenEntry,
        pin: Option<&AuthPin>,
        source: &str,
    ) -> Result<(), Error> {
        let label = token.describe();
        match session.login(UserType::User, pin) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                let now = self.pkcs11.get_token_info(token.slot).ok();
                let tries = match now {
                    Some(i) if i.user_pin_locked() => "; the user PIN is now locked",
                    Some(i) if i.user_pin_final_try() => "; one more wrong PIN locks the token",
                    Some(i) if i.user_pin_count_low() => "; the token reports that few tries are left",
                    _ => "",
                };
                Err(Error::new(format!("wrong PIN for token {label} (the PIN from {source}){tries}")))
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(locked(&label)),
            Err(CkError::Pkcs11(RvError::PinLenRange | RvError::PinInvalid, _)) => Err(Error::new(format!(
                "the PIN from {source} is not a valid PIN for token {label}: it takes {} to {} characters",
                token.info.min_pin_length(),
                token.info.max_pin_length()
            ))),
            Err(CkError::Pkcs11(RvError::PinExpired, _)) => Err(Error::new(format!(
                "the user PIN of token {label} has expired: set a new one (pkcs11-tool --change-pin)"
            ))),
            Err(CkError::Pkcs11(RvError::UserPinNotInitialized, _)) => Err(Error::new(format!(
                "token {label} has no user PIN yet: set one (pkcs11-tool --login --login-type so --init-pin, or softhsm2-util --init-token for SoftHSM)"
            ))),
            Err(e) => Err(fail(&format!("logging in to token {label} (C_Login)"), &e)),
        }
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(i) = loaded.iter().position(|l| l.key == self.key) else { return };
        loaded[i].users -= 1;
        if loaded[i].users == 0 {
            let l = loaded.swap_remove(i);
            if l.initialized_here {
                // Under the lock: a new user of this module waits until it is finalized, then
                // initializes it afresh.
                let _ = l.pkcs11.finalize();
            }
        }
    }
}

fn softhsm_hint(path: &Path) -> String {
    if path.to_string_lossy().contains("softhsm") {
        let conf = std::env::var_os("SOFTHSM2_CONF").map_or("the default /etc/softhsm/softhsm2.conf".to_owned(), |c| {
            format!("SOFTHSM2_CONF={}", c.to_string_lossy())
        });
        format!(" (SoftHSM reads {conf}: check that the file and its directories.tokendir exist and are readable)")
    } else {
        String::new()
    }
}

fn locked(label: &str) -> Error {
    Error::new(format!(
        "the user PIN of token {label} is locked after too many wrong PINs: unlock it with the security officer's PIN \
         (pkcs11-tool --login --login-type so --init-pin) or re-initialize the token"
    ))
}

fn available(all: &[TokenEntry]) -> String {
    let ready: Vec<String> = all.iter().filter(|t| t.info.token_initialized()).map(TokenEntry::describe).collect();
    if ready.is_empty() {
        " (it has no initialized token: for SoftHSM, check SOFTHSM2_CONF and run softhsm2-util --init-token; \
         for a smart card or security key, check that it is plugged in)"
            .to_owned()
    } else {
        format!("; its tokens: {} (sigstore-kms pkcs11 list-tokens shows them)", ready.join(", "))
    }
}

/// Whether a call logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// Private keys are needed: log in (an error without a PIN, unless the token needs none).
    Required,
    /// Log in when a PIN is given (public objects are readable without).
    IfPin,
}

/// A session, logged in or not. Dropping it closes the session (and so logs out).
pub struct Opened {
    /// The session.
    pub session: Session,
    /// Whether the user is logged in.
    pub logged_in: bool,
}

/// A slot with a token in it.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    /// The slot.
    pub slot: Slot,
    /// The token's information.
    pub info: TokenInfo,
    /// The slot's information, when it could be read.
    pub slot_info: Option<SlotInfo>,
}

impl TokenEntry {
    fn matches(&self, uri: &Pkcs11Uri) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let slot_text = |f: fn(&SlotInfo) -> &str| self.slot_info.as_ref().map_or("", f).to_owned();
        eq(&uri.token, self.info.label())
            && eq(&uri.manufacturer, self.info.manufacturer_id())
            && eq(&uri.model, self.info.model())
            && eq(&uri.serial, self.info.serial_number())
            && uri.slot_id.is_none_or(|id| id == self.slot.id())
            && eq(&uri.slot_description, &slot_text(SlotInfo::slot_description))
            && eq(&uri.slot_manufacturer, &slot_text(SlotInfo::manufacturer_id))
    }

    /// `"label" (slot 123, serial abc)`, for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("{:?} (slot {}, serial {})", self.info.label(), self.slot.id(), self.info.serial_number())
    }
}

// ----- keys ------------------------------------------------------------------------------------

/// The elliptic curves this plugin signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (secp256r1, prime256v1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
}

impl Curve {
    /// `CKA_EC_PARAMS`: the DER of the curve's OID (RFC 5480 namedCurve).
    #[must_use]
    pub fn ec_params(self) -> &'static [u8] {
        match self {
            Curve::P256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            Curve::P384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
            Curve::P521 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
        }
    }

    /// The size of a coordinate (and of `r` and `s`), in bytes.
    #[must_use]
    pub fn size(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    fn from_ec_params(params: &[u8]) -> Result<Curve, Error> {
        for c in [Curve::P256, Curve::P384, Curve::P521] {
            if params == c.ec_params() {
                return Ok(c);
            }
        }
        // A few tokens write the curve's name as a PrintableString instead of its OID.
        if let [0x13, len, name @ ..] = params {
            if usize::from(*len) == name.len() {
                match name {
                    b"prime256v1" | b"secp256r1" | b"P-256" => return Ok(Curve::P256),
                    b"secp384r1" | b"P-384" => return Ok(Curve::P384),
                    b"secp521r1" | b"P-521" => return Ok(Curve::P521),
                    _ => {}
                }
            }
        }
        Err(Error::new(format!(
            "the key's curve (CKA_EC_PARAMS {}) is not supported: use a P-256, P-384 or P-521 key",
            hex(params)
        )))
    }
}

/// What a key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on a curve.
    Ec(Curve),
    /// RSA of a modulus size in bits.
    Rsa(usize),
}

impl KeyKind {
    /// `ecdsa-p256`, `rsa-2048`, ...: the algorithm names of `supportedAlgorithms`.
    #[must_use]
    pub fn name(self) -> String {
        match self {
            KeyKind::Ec(Curve::P256) => "ecdsa-p256".into(),
            KeyKind::Ec(Curve::P384) => "ecdsa-p384".into(),
            KeyKind::Ec(Curve::P521) => "ecdsa-p521".into(),
            KeyKind::Rsa(bits) => format!("rsa-{bits}"),
        }
    }

    /// The hash used when the call names none and the host's client has none either.
    #[must_use]
    pub fn default_hash(self) -> HashFunc {
        match self {
            KeyKind::Ec(Curve::P384) => HashFunc::Sha384,
            KeyKind::Ec(Curve::P521) => HashFunc::Sha512,
            _ => HashFunc::Sha256,
        }
    }
}

/// A key pair on the token: the private key, and its public key object if there is one.
#[derive(Debug, Clone)]
pub struct Key {
    /// The private key (absent when only public objects were searched).
    pub private: Option<ObjectHandle>,
    /// The public key object, if the token has one.
    pub public: Option<ObjectHandle>,
    /// What the key is.
    pub kind: KeyKind,
    /// `CKA_LABEL`.
    pub label: Vec<u8>,
    /// `CKA_ID`.
    pub id: Vec<u8>,
}

fn template(class: ObjectClass, uri: &Pkcs11Uri) -> Vec<Attribute> {
    let mut t = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        t.push(Attribute::Label(label.clone()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

/// Finds the objects of `class` that `uri` names.
pub fn find(session: &Session, class: ObjectClass, uri: &Pkcs11Uri) -> Result<Vec<ObjectHandle>, Error> {
    session.find_objects(&template(class, uri)).map_err(|e| fail("searching the token's objects (C_FindObjects)", &e))
}

fn check_type(uri: &Pkcs11Uri) -> Result<(), Error> {
    match uri.object_type {
        None | Some(ObjectType::Private | ObjectType::Public) => Ok(()),
        Some(t) => Err(Error::new(format!(
            "the key URI names type={}: this plugin signs with key pairs; use type=private or type=public, or leave type out",
            t.as_str()
        ))),
    }
}

/// The one key pair `uri` names: its private key when `private` (the session must be logged
/// in), else its public key object (or, logged in, the private key's public half).
pub fn find_key(
    session: &Session,
    token: &TokenEntry,
    uri: &Pkcs11Uri,
    private: bool,
    logged_in: bool,
) -> Result<Key, Error> {
    check_type(uri)?;
    let what = uri.describe_object();
    let on = token.describe();
    let one = |handles: Vec<ObjectHandle>, class: &str| -> Result<Option<ObjectHandle>, Error> {
        match handles.len() {
            0 => Ok(None),
            1 => Ok(handles.into_iter().next()),
            n => Err(Error::new(format!(
                "{n} {class} keys match {what} on token {on}: add id= (or object=) to the key URI to pick one \
                 (sigstore-kms pkcs11 list-keys shows them)"
            ))),
        }
    };
    let not_found = |class: &str| {
        let pin = if logged_in { "" } else { " (no PIN was given, so only public objects were visible)" };
        Error::new(format!(
            "no {class} key {what} on token {on}{pin}: check object= and id= (sigstore-kms pkcs11 list-keys --token {} lists the keys)",
            token.info.label()
        ))
    };
    if private || logged_in {
        if let Some(handle) = one(find(session, ObjectClass::PRIVATE_KEY, uri)?, "private")? {
            return key_of_private(session, handle);
        }
        if private {
            return Err(not_found("private"));
        }
    }
    let Some(public) = one(find(session, ObjectClass::PUBLIC_KEY, uri)?, "public")? else {
        return Err(not_found(if logged_in { "private or public" } else { "public" }));
    };
    let attrs = session
        .get_attributes(
            public,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::Modulus,
                AttributeType::Label,
                AttributeType::Id,
            ],
        )
        .map_err(|e| fail("reading the public key's attributes (C_GetAttributeValue)", &e))?;
    let (kind, label, id) = kind_of(&attrs)?;
    Ok(Key { private: None, public: Some(public), kind, label, id })
}

/// The key pair of a private key object: its kind, label, ID and public object.
pub fn key_of_private(session: &Session, private: ObjectHandle) -> Result<Key, Error> {
    let attrs = session
        .get_attributes(
            private,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::Modulus,
                AttributeType::Label,
                AttributeType::Id,
            ],
        )
        .map_err(|e| fail("reading the private key's attributes (C_GetAttributeValue)", &e))?;
    let (kind, label, id) = kind_of(&attrs)?;
    // Its public key object: same CKA_ID (the PKCS#11 convention pairing the two), and the same
    // label when it has no ID.
    let mut t = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
    if id.is_empty() {
        t.push(Attribute::Label(label.clone()));
    } else {
        t.push(Attribute::Id(id.clone()));
    }
    let publics =
        session.find_objects(&t).map_err(|e| fail("searching the key's public object (C_FindObjects)", &e))?;
    let public = if publics.len() == 1 { publics.into_iter().next() } else { None };
    Ok(Key { private: Some(private), public, kind, label, id })
}

/// What the key object `handle` is.
pub fn kind_of_object(session: &Session, handle: ObjectHandle) -> Result<KeyKind, Error> {
    let attrs = session
        .get_attributes(handle, &[AttributeType::KeyType, AttributeType::EcParams, AttributeType::Modulus])
        .map_err(|e| fail("reading the key's attributes (C_GetAttributeValue)", &e))?;
    kind_of(&attrs).map(|(kind, _, _)| kind)
}

/// An object's `CKA_LABEL` and `CKA_ID` (empty when unreadable).
#[must_use]
pub fn label_and_id(session: &Session, handle: ObjectHandle) -> (Vec<u8>, Vec<u8>) {
    let attrs = session.get_attributes(handle, &[AttributeType::Label, AttributeType::Id]).unwrap_or_default();
    let (mut label, mut id) = (Vec::new(), Vec::new());
    for a in attrs {
        match a {
            Attribute::Label(l) => label = l,
            Attribute::Id(i) => id = i,
            _ => {}
        }
    }
    (label, id)
}

fn kind_of(attrs: &[Attribute]) -> Result<(KeyKind, Vec<u8>, Vec<u8>), Error> {
    let mut key_type = None;
    let (mut params, mut modulus, mut label, mut id) = (None, None, Vec::new(), Vec::new());
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(*t),
            Attribute::EcParams(p) => params = Some(p.clone()),
            Attribute::Modulus(m) => modulus = Some(m.clone()),
            Attribute::Label(l) => label.clone_from(l),
            Attribute::Id(i) => id.clone_from(i),
            _ => {}
        }
    }
    let kind = match key_type {
        Some(KeyType::EC) => {
            KeyKind::Ec(Curve::from_ec_params(&params.ok_or_else(|| Error::new("the EC key has no CKA_EC_PARAMS"))?)?)
        }
        Some(KeyType::RSA) => {
            let m = modulus.ok_or_else(|| Error::new("the RSA key has no readable CKA_MODULUS"))?;
            let first = m.iter().position(|b| *b != 0).unwrap_or(m.len());
            KeyKind::Rsa((m.len() - first) * 8)
        }
        Some(other) => {
            return Err(Error::new(format!(
                "the key is a {other} key: this plugin signs with ECDSA (P-256, P-384, P-521) and RSA keys"
            )))
        }
        None => return Err(Error::new("the key has no readable CKA_KEY_TYPE")),
    };
    Ok((kind, label, id))
}

/// The public key of `key`: from its public object, else from the private key
/// (`CKA_PUBLIC_KEY_INFO`, or an RSA key's modulus and exponent).
pub fn public_key(session: &Session, key: &Key) -> Result<PublicKey, Error> {
    if let Some(public) = key.public {
        let attrs = session
            .get_attributes(
                public,
                &[
                    AttributeType::EcParams,
                    AttributeType::EcPoint,
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                ],
            )
            .map_err(|e| fail("reading the public key (C_GetAttributeValue)", &e))?;
        return public_from(key.kind, &attrs);
    }
    let Some(private) = key.private else {
        return Err(Error::new("the key has neither a public nor a private object"));
    };
    let attrs = session
        .get_attributes(private, &[AttributeType::PublicKeyInfo, AttributeType::Modulus, AttributeType::PublicExponent])
        .map_err(|e| fail("reading the private key's public half (C_GetAttributeValue)", &e))?;
    if let Some(Attribute::PublicKeyInfo(spki)) =
        attrs.iter().find(|a| matches!(a, Attribute::PublicKeyInfo(s) if !s.is_empty()))
    {
        return PublicKey::from_spki_der(spki);
    }
    if matches!(key.kind, KeyKind::Rsa(_)) {
        return public_from(key.kind, &attrs);
    }
    Err(Error::new(
        "the token has no public key object for this EC key, and its private key does not carry the public key \
         (CKA_PUBLIC_KEY_INFO): import the public key onto the token with the same id",
    ))
}

fn public_from(kind: KeyKind, attrs: &[Attribute]) -> Result<PublicKey, Error> {
    let get = |want: AttributeType| {
        attrs.iter().find(|a| a.attribute_type() == want).and_then(|a| match a {
            Attribute::EcPoint(v) | Attribute::Modulus(v) | Attribute::PublicExponent(v) => Some(v.clone()),
            _ => None,
        })
    };
    let invalid = |e: &dyn std::fmt::Display| Error::new(format!("the token's public key is invalid: {e}"));
    match kind {
        KeyKind::Ec(curve) => {
            let raw = get(AttributeType::EcPoint).ok_or_else(|| Error::new("the EC public key has no CKA_EC_POINT"))?;
            let point = ec_point(&raw, curve)?;
            Ok(match curve {
                Curve::P256 => {
                    PublicKey::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|e| invalid(&e))?)
                }
                Curve::P384 => {
                    PublicKey::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|e| invalid(&e))?)
                }
                Curve::P521 => PublicKey::P521(p521::PublicKey::from_sec1_bytes(&point).map_err(|e| invalid(&e))?),
            })
        }
        KeyKind::Rsa(_) => {
            let n = get(AttributeType::Modulus).ok_or_else(|| Error::new("the RSA public key has no CKA_MODULUS"))?;
            let e = get(AttributeType::PublicExponent)
                .ok_or_else(|| Error::new("the RSA public key has no CKA_PUBLIC_EXPONENT"))?;
            let key = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&n), rsa::BigUint::from_bytes_be(&e))
                .map_err(|e| invalid(&e))?;
            Ok(PublicKey::Rsa(key))
        }
    }
}

/// The SEC 1 point of a `CKA_EC_POINT`: a DER OCTET STRING holding it (the standard), or the
/// bare point (what some tokens return).
fn ec_point(raw: &[u8], curve: Curve) -> Result<Vec<u8>, Error> {
    let n = 1 + 2 * curve.size();
    if raw.len() == n && raw[0] == 0x04 {
        return Ok(raw.to_vec());
    }
    let body = match raw {
        [0x04, len, rest @ ..] if usize::from(*len) < 0x80 && usize::from(*len) == rest.len() => rest,
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        _ => return Err(Error::new(format!("the token's CKA_EC_POINT ({} bytes) is not an EC point", raw.len()))),
    };
    Ok(body.to_vec())
}

/// Signs `digest` (made with `hash`) with the private key: `CKM_ECDSA` (the raw `r || s` the
/// token answers becomes DER), or `CKM_RSA_PKCS` over the DigestInfo of `hash` and `digest`
/// (RSASSA-PKCS1-v1_5).
pub fn sign(session: &Session, key: &Key, hash: HashFunc, digest: &[u8]) -> Result<Vec<u8>, Error> {
    let private = key.private.ok_or_else(|| Error::new("no private key to sign with"))?;
    match key.kind {
        KeyKind::Ec(curve) => {
            let raw = session.sign(&Mechanism::Ecdsa, private, digest).map_err(|e| sign_error(&e))?;
            if raw.len() != 2 * curve.size() {
                return Err(Error::new(format!(
                    "the token answered a {}-byte ECDSA signature; a {} one has {} bytes (r || s)",
                    raw.len(),
                    key.kind.name(),
                    2 * curve.size()
                )));
            }
            ecdsa::raw_to_der(&raw)
        }
        KeyKind::Rsa(_) => {
            let data = digest_info(hash, digest)?;
            session.sign(&Mechanism::RsaPkcs, private, &data).map_err(|e| sign_error(&e))
        }
    }
}

/// Verifies on the token (`remoteVerification`): `C_Verify` with the public key object.
pub fn verify(session: &Session, key: &Key, hash: HashFunc, digest: &[u8], signature: &[u8]) -> Result<(), Error> {
    let public = key.public.ok_or_else(|| {
        Error::new("the token has no public key object for this key, so it cannot verify: verify locally (without remoteVerification)")
    })?;
    let result = match key.kind {
        KeyKind::Ec(curve) => {
            let raw = ecdsa::der_to_raw(signature, curve.size())
                .map_err(|e| Error::new(format!("invalid signature: {e}")))?;
            session.verify(&Mechanism::Ecdsa, public, digest, &raw)
        }
        KeyKind::Rsa(_) => session.verify(&Mechanism::RsaPkcs, public, &digest_info(hash, digest)?, signature),
    };
    match result {
        Ok(()) => Ok(()),
        Err(CkError::Pkcs11(RvError::SignatureInvalid | RvError::SignatureLenRange, _)) => {
            Err(Error::new(format!("invalid signature: the token's {} verification failed", key.kind.name())))
        }
        Err(e) => Err(fail("verifying on the token (C_Verify)", &e)),
    }
}

fn digest_info(hash: HashFunc, digest: &[u8]) -> Result<Vec<u8>, Error> {
    let scheme = sigstore_kms_provider_kit::public_key::pkcs1v15(hash)?;
    Ok([&scheme.prefix[..], digest].concat())
}

fn sign_error(e: &CkError) -> Error {
    match e {
        CkError::Pkcs11(RvError::KeyFunctionNotPermitted, _) => {
            Error::new("the key may not sign (its CKA_SIGN is false): use a signing key")
        }
        CkError::Pkcs11(RvError::UserNotLoggedIn, _) => Error::new(
            "the token refused to sign: not logged in (a key with CKA_ALWAYS_AUTHENTICATE, such as a PIV signature key, \
             needs a PIN for each signature, which this plugin does not support yet)",
        ),
        CkError::Pkcs11(RvError::MechanismInvalid, _) => {
            Error::new("the token cannot sign with this key's mechanism (CKM_ECDSA or CKM_RSA_PKCS)")
        }
        e => fail("signing on the token (C_Sign)", e),
    }
}

// ----- creating keys ---------------------------------------------------------------------------

/// Generates a key pair of `kind` with the URI's label and ID (an ID of 16 random bytes when
/// the URI has none): the private key sensitive and not extractable, the public key a public
/// token object (so that `publicKey` needs no PIN).
pub fn generate(session: &Session, token: &TokenEntry, uri: &Pkcs11Uri, kind: KeyKind) -> Result<Key, Error> {
    let id = if let Some(id) = &uri.id {
        id.clone()
    } else {
        let mut id = vec![0u8; 16];
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut id)
            .map_err(|e| Error::new(format!("no random bytes for the key's id: {e}")))?;
        id
    };
    let mut public =
        vec![Attribute::Token(true), Attribute::Private(false), Attribute::Verify(true), Attribute::Id(id.clone())];
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Id(id.clone()),
    ];
    if let Some(label) = &uri.object {
        public.push(Attribute::Label(label.clone()));
        private.push(Attribute::Label(label.clone()));
    }
    let mechanism = match kind {
        KeyKind::Ec(curve) => {
            public.push(Attribute::EcParams(curve.ec_params().to_vec()));
            Mechanism::EccKeyPairGen
        }
        KeyKind::Rsa(bits) => {
            let bits = u64::try_from(bits).map_err(|_| Error::new("RSA key size out of range"))?;
            public.push(Attribute::ModulusBits(Ulong::from(bits)));
            public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
            Mechanism::RsaPkcsKeyPairGen
        }
    };
    let (public, private) = session.generate_key_pair(&mechanism, &public, &private).map_err(|e| match e {
        CkError::Pkcs11(RvError::MechanismInvalid | RvError::CurveNotSupported | RvError::KeySizeRange, _) => {
            Error::new(format!("token {} cannot generate {} keys", token.describe(), kind.name()))
        }
        CkError::Pkcs11(RvError::TokenWriteProtected, _) => {
            Error::new(format!("token {} is write-protected", token.describe()))
        }
        e => fail(&format!("generating a {} key on token {} (C_GenerateKeyPair)", kind.name(), token.describe()), &e),
    })?;
    Ok(Key { private: Some(private), public: Some(public), kind, label: uri.object.clone().unwrap_or_default(), id })
}

/// An exclusive lock on creating the key `uri` names on `token`, held until the file is
/// dropped: two `createKey` calls on this machine never both generate it. Best effort: `None`
/// when the lock file cannot be opened (the check for an existing key still runs).
#[must_use]
pub fn create_lock(module: &Module, token: &TokenEntry, uri: &Pkcs11Uri) -> Option<File> {
    lock_file(
        "create",
        &[
            module.key.as_os_str().as_encoded_bytes(),
            token.info.serial_number().as_bytes(),
            token.info.label().as_bytes(),
            uri.object.as_deref().unwrap_or_default(),
            uri.id.as_deref().unwrap_or_default(),
        ],
    )
}

/// An exclusive lock on using the module at `path` (per SoftHSM configuration), held until
/// the file is dropped. SoftHSM2's file store is not safe for concurrent processes (a login
/// rewrites the token file, and a process reading it meanwhile finds no token, a token
/// without a PIN, or fails with CKR_GENERAL_ERROR: `pkcs11-tool` fails the same way), and
/// USB tokens serve one application at a time: the calls of this machine take turns. Best
/// effort: `None` when the lock file cannot be opened.
#[must_use]
pub fn module_lock(path: &Path) -> Option<File> {
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let conf = std::env::var_os("SOFTHSM2_CONF").unwrap_or_default();
    lock_file("module", &[key.as_os_str().as_encoded_bytes(), conf.as_encoded_bytes()])
}

/// Opens `$TMPDIR/sigstore-kms-pkcs11-KIND-HASH.lock` (HASH of `parts`) and takes an exclusive
/// `flock` on it, waiting for it. The kernel releases it when the process ends, however it ends.
fn lock_file(kind: &str, parts: &[&[u8]]) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut h = sha2::Sha256::new();
    for part in parts {
        h.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        h.update(part);
    }
    let path = std::env::temp_dir().join(format!("sigstore-kms-pkcs11-{kind}-{}.lock", &hex(&h.finalize())[..32]));
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits();
    let open = |write: bool| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .create(write)
            .mode(0o644)
            .custom_flags(i32::try_from(nofollow).unwrap_or(0))
            .open(&path)
    };
    // Another user's lock file can still be opened to read, which is enough to lock it.
    let file = open(true).or_else(|_| open(false)).ok()?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).ok()?;
    Some(file)
}

// ----- errors ----------------------------------------------------------------------------------

/// `what failed: CKR_NAME (explanation)`.
#[must_use]
pub fn fail(what: &str, e: &CkError) -> Error {
    Error::new(format!("{what} failed: {}", describe(e)))
}

/// A cryptoki error as `CKR_NAME`, with a few words for the common ones.
#[must_use]
pub fn describe(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, _) => {
            let name = ckr_name(*rv);
            let why = match rv {
                RvError::TokenNotPresent | RvError::DeviceRemoved => " (the token was removed: plug it in again)",
                RvError::DeviceError | RvError::GeneralError => " (the token or its module failed)",
                RvError::SessionCount => " (the token has too many open sessions: try again)",
                RvError::UserNotLoggedIn => " (log in with the user PIN)",
                RvError::TokenWriteProtected => " (the token is read-only)",
                RvError::DeviceMemory => " (the token is full)",
                _ => "",
            };
            format!("{name}{why}")
        }
        other => other.to_string(),
    }
}

/// `RvError::PinIncorrect` -> `CKR_PIN_INCORRECT`.
fn ckr_name(rv: RvError) -> String {
    let debug = format!("{rv:?}");
    let mut out = String::from("CKR_");
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Lower-case hex.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn error_names() {
        assert_eq!(ckr_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(ckr_name(RvError::CryptokiAlreadyInitialized), "CKR_CRYPTOKI_ALREADY_INITIALIZED");
        let e = describe(&CkError::Pkcs11(RvError::TokenNotPresent, cryptoki::context::Function::Sign));
        assert!(e.starts_with("CKR_TOKEN_NOT_PRESENT (the token was removed"), "{e}");
        assert!(locked("\"t\"").to_string().contains("locked after too many wrong PINs"));
    }

    #[test]
    fn curves_and_points() {
        for c in [Curve::P256, Curve::P384, Curve::P521] {
            assert_eq!(Curve::from_ec_params(c.ec_params()).unwrap(), c);
        }
        assert_eq!(Curve::from_ec_params(b"\x13\x0aprime256v1").unwrap(), Curve::P256);
        let e = Curve::from_ec_params(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a]).unwrap_err().to_string();
        assert!(e.contains("not supported") && e.contains("06052b8104000a"), "{e}");
        let point = [[4u8].as_slice(), &[7u8; 64]].concat();
        assert_eq!(ec_point(&point, Curve::P256).unwrap(), point);
        assert_eq!(ec_point(&[[4u8, 65].as_slice(), &point].concat(), Curve::P256).unwrap(), point);
        let p521 = [[4u8].as_slice(), &[7u8; 132]].concat();
        assert_eq!(ec_point(&[[4u8, 0x81, 133].as_slice(), &p521].concat(), Curve::P521).unwrap(), p521);
        assert!(ec_point(&[4, 3, 1], Curve::P256).is_err());
        assert_eq!(KeyKind::Rsa(3072).name(), "rsa-3072");
        assert_eq!(KeyKind::Ec(Curve::P384).default_hash(), HashFunc::Sha384);
    }

    #[test]
    fn digest_infos() {
        let d = [0u8; 32];
        let info = digest_info(HashFunc::Sha256, &d).unwrap();
        // The SHA-256 DigestInfo prefix of RFC 8017 section 9.2, note 1.
        assert_eq!(hex(&info[..19]), "3031300d060960864801650304020105000420");
        assert_eq!(info.len(), 51);
    }
}
