//! The ActiveSync code pages (MS-ASWBXML §2.1.2.1): which tag each token
//! of each page is.
//!
//! A tag is a (page, token) pair, [`Tag`]. [`tags`] has a constant for
//! each, named as the specification names the page and the tag
//! (`tags::AirSync::SyncKey`, `tags::FolderHierarchy::FolderSync`), and
//! [`PAGES`] the same tables for lookups by number or name (the XML
//! rendering, tests against other codecs).
//!
//! Tokens 0x00–0x04 are WBXML's global tokens, so a page's tags start at
//! 0x05; the two high bits of a tag byte say whether it has attributes
//! and content (§5.8.2), so the last token is 0x3F.

/// A tag: its code page and its token on that page (0x05..=0x3F).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    pub page: u8,
    pub token: u8,
}

impl Tag {
    /// The tag's name, if its page and token are known.
    pub fn name(self) -> Option<&'static str> {
        CodePage::by_number(self.page)?.tag_name(self.token)
    }

    /// The namespace (the page's name), if the page is known.
    pub fn namespace(self) -> Option<&'static str> {
        Some(CodePage::by_number(self.page)?.namespace)
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.namespace(), self.name()) {
            (Some(ns), Some(name)) => write!(f, "{ns}:{name}"),
            _ => write!(f, "page{}:0x{:02X}", self.page, self.token),
        }
    }
}

/// One code page: its number, namespace and tags.
#[derive(Debug)]
pub struct CodePage {
    pub number: u8,
    /// The page's name, which is also its XML namespace (`AirSync`).
    pub namespace: &'static str,
    /// (token, name), ascending by token.
    pub tags: &'static [(u8, &'static str)],
}

impl CodePage {
    pub fn by_number(number: u8) -> Option<&'static CodePage> {
        PAGES.iter().find(|p| p.number == number)
    }

    pub fn by_namespace(namespace: &str) -> Option<&'static CodePage> {
        PAGES.iter().find(|p| p.namespace == namespace)
    }

    pub fn tag_name(&self, token: u8) -> Option<&'static str> {
        self.tags.iter().find(|(t, _)| *t == token).map(|(_, n)| *n)
    }

    pub fn tag(&self, name: &str) -> Option<Tag> {
        self.tags
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(t, _)| Tag {
                page: self.number,
                token: *t,
            })
    }
}

macro_rules! pages {
    ($( $page:ident = $num:literal { $( $tag:ident = $tok:literal ),* $(,)? } )*) => {
        /// A constant per tag, by page (`tags::AirSync::SyncKey`).
        pub mod tags {
            $(
                #[allow(non_snake_case, non_upper_case_globals)]
                pub mod $page {
                    use crate::codepage::Tag;
                    $( pub const $tag: Tag = Tag { page: $num, token: $tok }; )*
                }
            )*
        }

        /// Every known code page, by number.
        pub static PAGES: &[CodePage] = &[
            $( CodePage {
                number: $num,
                namespace: stringify!($page),
                tags: &[ $( ($tok, stringify!($tag)) ),* ],
            }, )*
        ];
    };
}

pages! {
    AirSync = 0 {
        Sync = 0x05, Responses = 0x06, Add = 0x07, Change = 0x08, Delete = 0x09,
        Fetch = 0x0A, SyncKey = 0x0B, ClientId = 0x0C, ServerId = 0x0D, Status = 0x0E,
        Collection = 0x0F, Class = 0x10, Version = 0x11, CollectionId = 0x12,
        GetChanges = 0x13, MoreAvailable = 0x14, WindowSize = 0x15, Commands = 0x16,
        Options = 0x17, FilterType = 0x18, Truncation = 0x19, RtfTruncation = 0x1A,
        Conflict = 0x1B, Collections = 0x1C, ApplicationData = 0x1D,
        DeletesAsMoves = 0x1E, NotifyGUID = 0x1F, Supported = 0x20, SoftDelete = 0x21,
        MIMESupport = 0x22, MIMETruncation = 0x23, Wait = 0x24, Limit = 0x25,
        Partial = 0x26, ConversationMode = 0x27, MaxItems = 0x28, HeartbeatInterval = 0x29,
    }
    Contacts = 1 {
        Anniversary = 0x05, AssistantName = 0x06, AssistantPhoneNumber = 0x07,
        Birthday = 0x08, Body = 0x09, BodySize = 0x0A, BodyTruncated = 0x0B,
        Business2PhoneNumber = 0x0C, BusinessAddressCity = 0x0D,
        BusinessAddressCountry = 0x0E, BusinessAddressPostalCode = 0x0F,
        BusinessAddressState = 0x10, BusinessAddressStreet = 0x11,
        BusinessFaxNumber = 0x12, BusinessPhoneNumber = 0x13, CarPhoneNumber = 0x14,
        Categories = 0x15, Category = 0x16, Children = 0x17, Child = 0x18,
        CompanyName = 0x19, Department = 0x1A, Email1Address = 0x1B,
        Email2Address = 0x1C, Email3Address = 0x1D, FileAs = 0x1E, FirstName = 0x1F,
        Home2PhoneNumber = 0x20, HomeAddressCity = 0x21, HomeAddressCountry = 0x22,
        HomeAddressPostalCode = 0x23, HomeAddressState = 0x24, HomeAddressStreet = 0x25,
        HomeFaxNumber = 0x26, HomePhoneNumber = 0x27, JobTitle = 0x28, LastName = 0x29,
        MiddleName = 0x2A, MobilePhoneNumber = 0x2B, OfficeLocation = 0x2C,
        OtherAddressCity = 0x2D, OtherAddressCountry = 0x2E,
        OtherAddressPostalCode = 0x2F, OtherAddressState = 0x30,
        OtherAddressStreet = 0x31, PagerNumber = 0x32, RadioPhoneNumber = 0x33,
        Spouse = 0x34, Suffix = 0x35, Title = 0x36, WebPage = 0x37,
        YomiCompanyName = 0x38, YomiFirstName = 0x39, YomiLastName = 0x3A,
        CompressedRTF = 0x3B, Picture = 0x3C, Alias = 0x3D, WeightedRank = 0x3E,
    }
    Email = 2 {
        Attachment = 0x05, Attachments = 0x06, AttName = 0x07, AttSize = 0x08,
        Att0Id = 0x09, AttMethod = 0x0A, AttRemoved = 0x0B, Body = 0x0C,
        BodySize = 0x0D, BodyTruncated = 0x0E, DateReceived = 0x0F, DisplayName = 0x10,
        DisplayTo = 0x11, Importance = 0x12, MessageClass = 0x13, Subject = 0x14,
        Read = 0x15, To = 0x16, Cc = 0x17, From = 0x18, ReplyTo = 0x19,
        AllDayEvent = 0x1A, Categories = 0x1B, Category = 0x1C, DTStamp = 0x1D,
        EndTime = 0x1E, InstanceType = 0x1F, BusyStatus = 0x20, Location = 0x21,
        MeetingRequest = 0x22, Organizer = 0x23, RecurrenceId = 0x24, Reminder = 0x25,
        ResponseRequested = 0x26, Recurrences = 0x27, Recurrence = 0x28,
        Recurrence_Type = 0x29, Recurrence_Until = 0x2A, Recurrence_Occurrences = 0x2B,
        Recurrence_Interval = 0x2C, Recurrence_DayOfWeek = 0x2D,
        Recurrence_DayOfMonth = 0x2E, Recurrence_WeekOfMonth = 0x2F,
        Recurrence_MonthOfYear = 0x30, StartTime = 0x31, Sensitivity = 0x32,
        TimeZone = 0x33, GlobalObjId = 0x34, ThreadTopic = 0x35, MIMEData = 0x36,
        MIMETruncated = 0x37, MIMESize = 0x38, InternetCPID = 0x39, Flag = 0x3A,
        Status = 0x3B, ContentClass = 0x3C, FlagType = 0x3D, CompleteTime = 0x3E,
        DisallowNewTimeProposal = 0x3F,
    }
    AirNotify = 3 {
        Notify = 0x05, Notification = 0x06, Version = 0x07, Lifetime = 0x08,
        DeviceInfo = 0x09, Enable = 0x0A, Folder = 0x0B, ServerId = 0x0C,
        DeviceAddress = 0x0D, ValidCarrierProfiles = 0x0E, CarrierProfile = 0x0F,
        Status = 0x10, Responses = 0x11, Devices = 0x12, Device = 0x13, Id = 0x14,
        Expiry = 0x15, NotifyGUID = 0x16, DeviceFriendlyName = 0x17,
    }
    Calendar = 4 {
        TimeZone = 0x05, AllDayEvent = 0x06, Attendees = 0x07, Attendee = 0x08,
        Email = 0x09, Name = 0x0A, Body = 0x0B, BodyTruncated = 0x0C,
        BusyStatus = 0x0D, Categories = 0x0E, Category = 0x0F, CompressedRTF = 0x10,
        DtStamp = 0x11, EndTime = 0x12, Exception = 0x13, Exceptions = 0x14,
        Deleted = 0x15, ExceptionStartTime = 0x16, Location = 0x17,
        MeetingStatus = 0x18, OrganizerEmail = 0x19, OrganizerName = 0x1A,
        Recurrence = 0x1B, Type = 0x1C, Until = 0x1D, Occurrences = 0x1E,
        Interval = 0x1F, DayOfWeek = 0x20, DayOfMonth = 0x21, WeekOfMonth = 0x22,
        MonthOfYear = 0x23, Reminder = 0x24, Sensitivity = 0x25, Subject = 0x26,
        StartTime = 0x27, UID = 0x28, AttendeeStatus = 0x29, AttendeeType = 0x2A,
        Attachment = 0x2B, Attachments = 0x2C, AttName = 0x2D, AttSize = 0x2E,
        AttOid = 0x2F, AttMethod = 0x30, AttRemoved = 0x31, DisplayName = 0x32,
        DisallowNewTimeProposal = 0x33, ResponseRequested = 0x34,
        AppointmentReplyTime = 0x35, ResponseType = 0x36, CalendarType = 0x37,
        IsLeapMonth = 0x38, FirstDayOfWeek = 0x39, OnlineMeetingConfLink = 0x3A,
        OnlineMeetingExternalLink = 0x3B, ClientUid = 0x3C,
    }
    Move = 5 {
        MoveItems = 0x05, Move = 0x06, SrcMsgId = 0x07, SrcFldId = 0x08,
        DstFldId = 0x09, Response = 0x0A, Status = 0x0B, DstMsgId = 0x0C,
    }
    GetItemEstimate = 6 {
        GetItemEstimate = 0x05, Version = 0x06, Collections = 0x07, Collection = 0x08,
        Class = 0x09, CollectionId = 0x0A, DateTime = 0x0B, Estimate = 0x0C,
        Response = 0x0D, Status = 0x0E,
    }
    FolderHierarchy = 7 {
        Folders = 0x05, Folder = 0x06, DisplayName = 0x07, ServerId = 0x08,
        ParentId = 0x09, Type = 0x0A, Response = 0x0B, Status = 0x0C,
        ContentClass = 0x0D, Changes = 0x0E, Add = 0x0F, Delete = 0x10, Update = 0x11,
        SyncKey = 0x12, FolderCreate = 0x13, FolderDelete = 0x14, FolderUpdate = 0x15,
        FolderSync = 0x16, Count = 0x17, Version = 0x18,
    }
    MeetingResponse = 8 {
        CalendarId = 0x05, CollectionId = 0x06, MeetingResponse = 0x07,
        RequestId = 0x08, Request = 0x09, Result = 0x0A, Status = 0x0B,
        UserResponse = 0x0C, Version = 0x0D, InstanceId = 0x0E,
    }
    Tasks = 9 {
        Body = 0x05, BodySize = 0x06, BodyTruncated = 0x07, Categories = 0x08,
        Category = 0x09, Complete = 0x0A, DateCompleted = 0x0B, DueDate = 0x0C,
        UtcDueDate = 0x0D, Importance = 0x0E, Recurrence = 0x0F, Type = 0x10,
        Start = 0x11, Until = 0x12, Occurrences = 0x13, Interval = 0x14,
        DayOfMonth = 0x15, DayOfWeek = 0x16, WeekOfMonth = 0x17, MonthOfYear = 0x18,
        Regenerate = 0x19, DeadOccur = 0x1A, ReminderSet = 0x1B, ReminderTime = 0x1C,
        Sensitivity = 0x1D, StartDate = 0x1E, UtcStartDate = 0x1F, Subject = 0x20,
        CompressedRTF = 0x21, OrdinalDate = 0x22, SubOrdinalDate = 0x23,
        CalendarType = 0x24, IsLeapMonth = 0x25, FirstDayOfWeek = 0x26,
    }
    ResolveRecipients = 10 {
        ResolveRecipients = 0x05, Response = 0x06, Status = 0x07, Type = 0x08,
        Recipient = 0x09, DisplayName = 0x0A, EmailAddress = 0x0B, Certificates = 0x0C,
        Certificate = 0x0D, MiniCertificate = 0x0E, Options = 0x0F, To = 0x10,
        CertificateRetrieval = 0x11, RecipientCount = 0x12, MaxCertificates = 0x13,
        MaxAmbiguousRecipients = 0x14, CertificateCount = 0x15, Availability = 0x16,
        StartTime = 0x17, EndTime = 0x18, MergedFreeBusy = 0x19, Picture = 0x1A,
        MaxSize = 0x1B, Data = 0x1C, MaxPictures = 0x1D,
    }
    ValidateCert = 11 {
        ValidateCert = 0x05, Certificates = 0x06, Certificate = 0x07,
        CertificateChain = 0x08, CheckCRL = 0x09, Status = 0x0A,
    }
    Contacts2 = 12 {
        CustomerId = 0x05, GovernmentId = 0x06, IMAddress = 0x07, IMAddress2 = 0x08,
        IMAddress3 = 0x09, ManagerName = 0x0A, CompanyMainPhone = 0x0B,
        AccountName = 0x0C, NickName = 0x0D, MMS = 0x0E,
    }
    Ping = 13 {
        Ping = 0x05, AutdState = 0x06, Status = 0x07, HeartbeatInterval = 0x08,
        Folders = 0x09, Folder = 0x0A, Id = 0x0B, Class = 0x0C, MaxFolders = 0x0D,
    }
    Provision = 14 {
        Provision = 0x05, Policies = 0x06, Policy = 0x07, PolicyType = 0x08,
        PolicyKey = 0x09, Data = 0x0A, Status = 0x0B, RemoteWipe = 0x0C,
        EASProvisionDoc = 0x0D, DevicePasswordEnabled = 0x0E,
        AlphanumericDevicePasswordRequired = 0x0F, RequireStorageCardEncryption = 0x10,
        PasswordRecoveryEnabled = 0x11, AttachmentsEnabled = 0x13,
        MinDevicePasswordLength = 0x14, MaxInactivityTimeDeviceLock = 0x15,
        MaxDevicePasswordFailedAttempts = 0x16, MaxAttachmentSize = 0x17,
        AllowSimpleDevicePassword = 0x18, DevicePasswordExpiration = 0x19,
        DevicePasswordHistory = 0x1A, AllowStorageCard = 0x1B, AllowCamera = 0x1C,
        RequireDeviceEncryption = 0x1D, AllowUnsignedApplications = 0x1E,
        AllowUnsignedInstallationPackages = 0x1F,
        MinDevicePasswordComplexCharacters = 0x20, AllowWiFi = 0x21,
        AllowTextMessaging = 0x22, AllowPOPIMAPEmail = 0x23, AllowBluetooth = 0x24,
        AllowIrDA = 0x25, RequireManualSyncWhenRoaming = 0x26, AllowDesktopSync = 0x27,
        MaxCalendarAgeFilter = 0x28, AllowHTMLEmail = 0x29, MaxEmailAgeFilter = 0x2A,
        MaxEmailBodyTruncationSize = 0x2B, MaxEmailHTMLBodyTruncationSize = 0x2C,
        RequireSignedSMIMEMessages = 0x2D, RequireEncryptedSMIMEMessages = 0x2E,
        RequireSignedSMIMEAlgorithm = 0x2F, RequireEncryptionSMIMEAlgorithm = 0x30,
        AllowSMIMEEncryptionAlgorithmNegotiation = 0x31, AllowSMIMESoftCerts = 0x32,
        AllowBrowser = 0x33, AllowConsumerEmail = 0x34, AllowRemoteDesktop = 0x35,
        AllowInternetSharing = 0x36, UnapprovedInROMApplicationList = 0x37,
        ApplicationName = 0x38, ApprovedApplicationList = 0x39, Hash = 0x3A,
        AccountOnlyRemoteWipe = 0x3B,
    }
    Search = 15 {
        Search = 0x05, Stores = 0x06, Store = 0x07, Name = 0x08, Query = 0x09,
        Options = 0x0A, Range = 0x0B, Status = 0x0C, Response = 0x0D, Result = 0x0E,
        Properties = 0x0F, Total = 0x10, EqualTo = 0x11, Value = 0x12, And = 0x13,
        Or = 0x14, FreeText = 0x15, SubstringOp = 0x16, DeepTraversal = 0x17,
        LongId = 0x18, RebuildResults = 0x19, LessThan = 0x1A, GreaterThan = 0x1B,
        Schema = 0x1C, Supported = 0x1D, UserName = 0x1E, Password = 0x1F,
        ConversationId = 0x20, Picture = 0x21, MaxSize = 0x22, MaxPictures = 0x23,
    }
    GAL = 16 {
        DisplayName = 0x05, Phone = 0x06, Office = 0x07, Title = 0x08, Company = 0x09,
        Alias = 0x0A, FirstName = 0x0B, LastName = 0x0C, HomePhone = 0x0D,
        MobilePhone = 0x0E, EmailAddress = 0x0F, Picture = 0x10, Status = 0x11,
        Data = 0x12,
    }
    AirSyncBase = 17 {
        BodyPreference = 0x05, Type = 0x06, TruncationSize = 0x07, AllOrNone = 0x08,
        Body = 0x0A, Data = 0x0B, EstimatedDataSize = 0x0C, Truncated = 0x0D,
        Attachments = 0x0E, Attachment = 0x0F, DisplayName = 0x10,
        FileReference = 0x11, Method = 0x12, ContentId = 0x13, ContentLocation = 0x14,
        IsInline = 0x15, NativeBodyType = 0x16, ContentType = 0x17, Preview = 0x18,
        BodyPartPreference = 0x19, BodyPart = 0x1A, Status = 0x1B, Add = 0x1C,
        Delete = 0x1D, ClientId = 0x1E, Content = 0x1F, Location = 0x20,
        Annotation = 0x21, Street = 0x22, City = 0x23, State = 0x24, Country = 0x25,
        PostalCode = 0x26, Latitude = 0x27, Longitude = 0x28, Accuracy = 0x29,
        Altitude = 0x2A, AltitudeAccuracy = 0x2B, LocationUri = 0x2C, InstanceId = 0x2D,
    }
    Settings = 18 {
        Settings = 0x05, Status = 0x06, Get = 0x07, Set = 0x08, Oof = 0x09,
        OofState = 0x0A, StartTime = 0x0B, EndTime = 0x0C, OofMessage = 0x0D,
        AppliesToInternal = 0x0E, AppliesToExternalKnown = 0x0F,
        AppliesToExternalUnknown = 0x10, Enabled = 0x11, ReplyMessage = 0x12,
        BodyType = 0x13, DevicePassword = 0x14, Password = 0x15,
        DeviceInformation = 0x16, Model = 0x17, IMEI = 0x18, FriendlyName = 0x19,
        OS = 0x1A, OSLanguage = 0x1B, PhoneNumber = 0x1C, UserInformation = 0x1D,
        EmailAddresses = 0x1E, SmtpAddress = 0x1F, UserAgent = 0x20,
        EnableOutboundSMS = 0x21, MobileOperator = 0x22, PrimarySmtpAddress = 0x23,
        Accounts = 0x24, Account = 0x25, AccountId = 0x26, AccountName = 0x27,
        UserDisplayName = 0x28, SendDisabled = 0x29, RightsManagementInformation = 0x2B,
    }
    DocumentLibrary = 19 {
        LinkId = 0x05, DisplayName = 0x06, IsFolder = 0x07, CreationDate = 0x08,
        LastModifiedDate = 0x09, IsHidden = 0x0A, ContentLength = 0x0B,
        ContentType = 0x0C,
    }
    ItemOperations = 20 {
        ItemOperations = 0x05, Fetch = 0x06, Store = 0x07, Options = 0x08,
        Range = 0x09, Total = 0x0A, Properties = 0x0B, Data = 0x0C, Status = 0x0D,
        Response = 0x0E, Version = 0x0F, Schema = 0x10, Part = 0x11,
        EmptyFolderContents = 0x12, DeleteSubFolders = 0x13, UserName = 0x14,
        Password = 0x15, Move = 0x16, DstFldId = 0x17, ConversationId = 0x18,
        MoveAlways = 0x19,
    }
    ComposeMail = 21 {
        SendMail = 0x05, SmartForward = 0x06, SmartReply = 0x07,
        SaveInSentItems = 0x08, ReplaceMime = 0x09, Source = 0x0B, FolderId = 0x0C,
        ItemId = 0x0D, LongId = 0x0E, InstanceId = 0x0F, Mime = 0x10, ClientId = 0x11,
        Status = 0x12, AccountId = 0x13, Forwardees = 0x15, Forwardee = 0x16,
        ForwardeeName = 0x17, ForwardeeEmail = 0x18,
    }
    Email2 = 22 {
        UmCallerID = 0x05, UmUserNotes = 0x06, UmAttDuration = 0x07,
        UmAttOrder = 0x08, ConversationId = 0x09, ConversationIndex = 0x0A,
        LastVerbExecuted = 0x0B, LastVerbExecutionTime = 0x0C, ReceivedAsBcc = 0x0D,
        Sender = 0x0E, CalendarType = 0x0F, IsLeapMonth = 0x10, AccountId = 0x11,
        FirstDayOfWeek = 0x12, MeetingMessageType = 0x13, IsDraft = 0x15, Bcc = 0x16,
        Send = 0x17,
    }
    Notes = 23 {
        Subject = 0x05, MessageClass = 0x06, LastModifiedDate = 0x07,
        Categories = 0x08, Category = 0x09,
    }
    RightsManagement = 24 {
        RightsManagementSupport = 0x05, RightsManagementTemplates = 0x06,
        RightsManagementTemplate = 0x07, RightsManagementLicense = 0x08,
        EditAllowed = 0x09, ReplyAllowed = 0x0A, ReplyAllAllowed = 0x0B,
        ForwardAllowed = 0x0C, ModifyRecipientsAllowed = 0x0D, ExtractAllowed = 0x0E,
        PrintAllowed = 0x0F, ExportAllowed = 0x10, ProgrammaticAccessAllowed = 0x11,
        Owner = 0x12, ContentExpiryDate = 0x13, TemplateID = 0x14, TemplateName = 0x15,
        TemplateDescription = 0x16, ContentOwner = 0x17,
        RemoveRightsManagementDistribution = 0x18,
    }
    Find = 25 {
        Find = 0x05, SearchId = 0x06, ExecuteSearch = 0x07,
        MailBoxSearchCriterion = 0x08, Query = 0x09, Status = 0x0A, FreeText = 0x0B,
        Options = 0x0C, Range = 0x0D, DeepTraversal = 0x0E, Response = 0x11,
        Result = 0x12, Properties = 0x13, Preview = 0x14, HasAttachments = 0x15,
        Total = 0x16, DisplayCc = 0x17, DisplayBcc = 0x18, GalSearchCriterion = 0x19,
        MaxPictures = 0x1A, MaxSize = 0x1B, Picture = 0x1C,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_well_formed() {
        for (i, page) in PAGES.iter().enumerate() {
            assert_eq!(usize::from(page.number), i, "pages are in number order");
            let mut last = 0x04;
            for &(token, name) in page.tags {
                assert!(token > last && token <= 0x3F, "{}:{name}", page.namespace);
                last = token;
                assert_eq!(
                    page.tag(name).map(|t| t.token),
                    Some(token),
                    "{name} unique"
                );
            }
        }
    }

    #[test]
    fn constants_name_their_tags() {
        assert_eq!(
            tags::AirSync::SyncKey,
            Tag {
                page: 0,
                token: 0x0B
            }
        );
        assert_eq!(tags::Find::Find.to_string(), "Find:Find");
        assert_eq!(tags::ComposeMail::Mime.name(), Some("Mime"));
        assert_eq!(tags::AirSyncBase::Body.namespace(), Some("AirSyncBase"));
        assert_eq!(Tag { page: 99, token: 5 }.to_string(), "page99:0x05");
    }
}
