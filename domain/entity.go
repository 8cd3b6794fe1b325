package domain

import "time"

// EntityKind names a synced entity type. The strings appear on the wire
// (sync changes, error messages) and in the change log, so they are stable.
type EntityKind string

// The synced entity kinds.
const (
	KindOrganization       EntityKind = "organization"
	KindUser               EntityKind = "user"
	KindDevice             EntityKind = "device"
	KindLead               EntityKind = "lead"
	KindCustomer           EntityKind = "customer"
	KindProject            EntityKind = "project"
	KindInteraction        EntityKind = "interaction"
	KindAppointment        EntityKind = "appointment"
	KindPhoto              EntityKind = "photo"
	KindReview             EntityKind = "review"
	KindPartner            EntityKind = "partner"
	KindReferral           EntityKind = "referral"
	KindAlert              EntityKind = "alert"
	KindCampaignEnrollment EntityKind = "campaign_enrollment"
	KindCampaignTouch      EntityKind = "campaign_touch"
	KindNotification       EntityKind = "notification"
)

// EntityKinds lists the kinds that live in organization-owned tables with a
// Meta, in dependency order (parents before children).
func EntityKinds() []EntityKind {
	return []EntityKind{
		KindUser, KindDevice, KindLead, KindCustomer, KindProject,
		KindInteraction, KindAppointment, KindPhoto, KindReview, KindPartner,
		KindReferral, KindAlert, KindCampaignEnrollment, KindCampaignTouch,
		KindNotification,
	}
}

// Meta is the header every organization-owned row carries: identity, owner
// organization, the sync version and the audit trail.
//
// ID is a UUID chosen by whoever creates the record (a phone creates records
// offline, so the server cannot be the one to number them). Version is the
// organization's change sequence number of the transaction that last wrote
// the row: it orders changes for sync and doubles as an optimistic lock.
type Meta struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"org_id"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// Base returns the record's header so generic code (the write path) can stamp it.
func (m *Meta) Base() *Meta { return m }

// Record is any organization-owned entity.
type Record interface {
	Base() *Meta
	EntityKind() EntityKind
}

// SoftDeletable is a record that is tombstoned rather than removed, so that
// the deletion can reach every offline device that holds it.
type SoftDeletable interface {
	Record
	Deleted() *time.Time
	MarkDeleted(at time.Time)
}

// Tombstone is embedded by soft-deletable entities.
type Tombstone struct {
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
}

// Deleted returns when the record was deleted, or nil.
func (t *Tombstone) Deleted() *time.Time { return t.DeletedAt }

// MarkDeleted tombstones the record.
func (t *Tombstone) MarkDeleted(at time.Time) { t.DeletedAt = &at }

// OrgSettings are the per-organization knobs the rules read.
type OrgSettings struct {
	// Temperature thresholds: a score at or above Hot is hot, and so on down.
	HotThreshold  int `json:"hot_threshold"`
	WarmThreshold int `json:"warm_threshold"`
	CoolThreshold int `json:"cool_threshold"`
	// PremiumZips score 10 for location, TargetZips 7, anything else 3.
	PremiumZips []string `json:"premium_zips"`
	TargetZips  []string `json:"target_zips"`
}

// DefaultOrgSettings are the seed's values: hot ≥ 80, warm ≥ 60, cool ≥ 40.
func DefaultOrgSettings() OrgSettings {
	return OrgSettings{HotThreshold: 80, WarmThreshold: 60, CoolThreshold: 40}
}

// Organization is a tenant: a roofing company. Every other row belongs to one.
type Organization struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Slug      string      `json:"slug"`
	TimeZone  string      `json:"time_zone"`
	Settings  OrgSettings `json:"settings" gorm:"serializer:json"`
	ChangeSeq int64       `json:"-"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// Role is what a team member is allowed to do.
type Role string

// The roles.
const (
	RoleAdmin     Role = "admin"
	RoleManager   Role = "manager"
	RoleSales     Role = "sales"
	RoleFieldTech Role = "field_tech"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleManager, RoleSales, RoleFieldTech:
		return true
	}
	return false
}

// EscalationTier places a user on the lead-alert escalation chain above the
// assigned rep: manager, then operations, then owner.
type EscalationTier string

// The escalation tiers, in order.
const (
	TierNone       EscalationTier = ""
	TierManager    EscalationTier = "manager"
	TierOperations EscalationTier = "operations"
	TierOwner      EscalationTier = "owner"
)

// User is a team member who signs in.
type User struct {
	Meta
	Email          string         `json:"email"`
	Name           string         `json:"name"`
	Phone          string         `json:"phone,omitempty"`
	Role           Role           `json:"role"`
	EscalationTier EscalationTier `json:"escalation_tier,omitempty"`
	Territories    []string       `json:"territories,omitempty" gorm:"serializer:json"`
	Skills         []string       `json:"skills,omitempty" gorm:"serializer:json"`
	TopPerformer   bool           `json:"top_performer"`
	Active         bool           `json:"active"`
	PasswordHash   string         `json:"-"`
}

// EntityKind implements Record.
func (*User) EntityKind() EntityKind { return KindUser }

// Platform is a device's operating system, which decides push options.
type Platform string

// The platforms.
const (
	PlatformIOS     Platform = "ios"
	PlatformAndroid Platform = "android"
	PlatformWeb     Platform = "web"
)

// Device is one install of the app on one phone, registered by its user.
type Device struct {
	Meta
	UserID     string     `json:"user_id"`
	Platform   Platform   `json:"platform"`
	PushToken  string     `json:"-"`
	AppVersion string     `json:"app_version"`
	LastSeenAt *time.Time `json:"last_seen_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// EntityKind implements Record.
func (*Device) EntityKind() EntityKind { return KindDevice }

// LeadStatus is a column of the sales board.
type LeadStatus string

// The lead statuses, in board order.
const (
	LeadNew                 LeadStatus = "new"
	LeadContacted           LeadStatus = "contacted"
	LeadQualified           LeadStatus = "qualified"
	LeadAppointmentSet      LeadStatus = "appointment_scheduled"
	LeadInspectionCompleted LeadStatus = "inspection_completed"
	LeadQuoteSent           LeadStatus = "quote_sent"
	LeadNegotiation         LeadStatus = "negotiation"
	LeadWon                 LeadStatus = "won"
	LeadLost                LeadStatus = "lost"
)

// Engagement is how the lead found and used the website.
type Engagement string

// The engagement levels the scoring rule knows.
const (
	EngagementNone     Engagement = ""
	EngagementMultiple Engagement = "multiple_visits"
	EngagementSingle   Engagement = "single_visit"
	EngagementFormFill Engagement = "form_fill"
)

// Budget is the B of BANT.
type Budget string

// Budget answers.
const (
	BudgetUnknown   Budget = "unknown"
	BudgetEstimated Budget = "estimated"
	BudgetConfirmed Budget = "confirmed"
)

// Authority is the A of BANT.
type Authority string

// Authority answers.
const (
	AuthorityUnknown       Authority = "unknown"
	AuthorityInfluencer    Authority = "influencer"
	AuthorityDecisionMaker Authority = "decision_maker"
)

// Need is the N of BANT.
type Need string

// Need answers.
const (
	NeedUnknown   Need = ""
	NeedExploring Need = "exploring"
	NeedWithin3Mo Need = "within_3_months"
	NeedImmediate Need = "immediate"
)

// Timeline is the T of BANT.
type Timeline string

// Timeline answers.
const (
	TimelineUnknown Timeline = ""
	TimelineOver90  Timeline = "over_90_days"
	Timeline30To90  Timeline = "30_to_90_days"
	TimelineUnder30 Timeline = "under_30_days"
)

// Temperature is the lead's heat band, derived from its score.
type Temperature string

// The temperatures.
const (
	TempHot  Temperature = "hot"
	TempWarm Temperature = "warm"
	TempCool Temperature = "cool"
	TempCold Temperature = "cold"
)

// Lead is a prospective customer, from a web form, an ad platform, a referral
// or a rep's phone. Money is in whole US dollars; scores are 0–100.
type Lead struct {
	Meta
	Tombstone
	ExternalID    string     `json:"external_id,omitempty"`
	Source        string     `json:"source"`
	FirstName     string     `json:"first_name"`
	LastName      string     `json:"last_name"`
	Email         string     `json:"email,omitempty"`
	Phone         string     `json:"phone,omitempty"`
	Street        string     `json:"street,omitempty"`
	City          string     `json:"city,omitempty"`
	State         string     `json:"state,omitempty"`
	Zip           string     `json:"zip,omitempty"`
	Status        LeadStatus `json:"status"`
	AssignedTo    string     `json:"assigned_to,omitempty"`
	RoutingRule   string     `json:"routing_rule,omitempty"`
	WhiteGlove    bool       `json:"white_glove"`
	LostReason    string     `json:"lost_reason,omitempty"`
	Notes         string     `json:"notes,omitempty"`
	CustomerID    string     `json:"customer_id,omitempty"`
	PropertyValue int64      `json:"property_value"`
	Income        int64      `json:"income"`
	Engagement    Engagement `json:"engagement,omitempty"`
	// ResponseMinutes is how long the prospect took to answer our first
	// contact; nil until they have.
	ResponseMinutes  *int           `json:"response_minutes,omitempty"`
	InteractionCount int            `json:"interaction_count"`
	Budget           Budget         `json:"budget,omitempty"`
	Authority        Authority      `json:"authority,omitempty"`
	Need             Need           `json:"need,omitempty"`
	Timeline         Timeline       `json:"timeline,omitempty"`
	Score            int            `json:"score"`
	Temperature      Temperature    `json:"temperature"`
	ScoreBreakdown   ScoreBreakdown `json:"score_breakdown" gorm:"serializer:json"`
}

// EntityKind implements Record.
func (*Lead) EntityKind() EntityKind { return KindLead }

// Customer is a person or household we have sold to (a won lead).
type Customer struct {
	Meta
	Tombstone
	LeadID      string `json:"lead_id,omitempty"`
	OwnerID     string `json:"owner_id,omitempty"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	Email       string `json:"email,omitempty"`
	Phone       string `json:"phone,omitempty"`
	Street      string `json:"street,omitempty"`
	City        string `json:"city,omitempty"`
	State       string `json:"state,omitempty"`
	Zip         string `json:"zip,omitempty"`
	SMSOptOut   bool   `json:"sms_opt_out"`
	EmailOptOut bool   `json:"email_opt_out"`
	Notes       string `json:"notes,omitempty"`
}

// EntityKind implements Record.
func (*Customer) EntityKind() EntityKind { return KindCustomer }

// ProjectStatus is a stage of a job.
type ProjectStatus string

// The project statuses, in order.
const (
	ProjectQuoted     ProjectStatus = "quoted"
	ProjectApproved   ProjectStatus = "approved"
	ProjectScheduled  ProjectStatus = "scheduled"
	ProjectInProgress ProjectStatus = "in_progress"
	ProjectCompleted  ProjectStatus = "completed"
	ProjectInvoiced   ProjectStatus = "invoiced"
	ProjectPaid       ProjectStatus = "paid"
	ProjectCancelled  ProjectStatus = "cancelled"
)

// Project is a job for a customer: a roof replacement, a repair, an inspection.
// Money is in cents.
type Project struct {
	Meta
	Tombstone
	CustomerID    string        `json:"customer_id"`
	LeadID        string        `json:"lead_id,omitempty"`
	Name          string        `json:"name"`
	Type          string        `json:"type"`
	Status        ProjectStatus `json:"status"`
	SalesRepID    string        `json:"sales_rep_id,omitempty"`
	AssignedTech  string        `json:"assigned_tech,omitempty"`
	QuoteCents    int64         `json:"quote_cents"`
	ContractCents int64         `json:"contract_cents"`
	Street        string        `json:"street,omitempty"`
	City          string        `json:"city,omitempty"`
	State         string        `json:"state,omitempty"`
	Zip           string        `json:"zip,omitempty"`
	ScheduledFor  *time.Time    `json:"scheduled_for,omitempty"`
	CompletedAt   *time.Time    `json:"completed_at,omitempty"`
	Notes         string        `json:"notes,omitempty"`
}

// EntityKind implements Record.
func (*Project) EntityKind() EntityKind { return KindProject }

// InteractionKind is the channel of a logged touch.
type InteractionKind string

// The interaction kinds.
const (
	InteractionCall    InteractionKind = "call"
	InteractionSMS     InteractionKind = "sms"
	InteractionEmail   InteractionKind = "email"
	InteractionMeeting InteractionKind = "meeting"
	InteractionNote    InteractionKind = "note"
)

// Interaction is a logged call, message, meeting or note about a lead,
// customer or project.
type Interaction struct {
	Meta
	Tombstone
	LeadID          string          `json:"lead_id,omitempty"`
	CustomerID      string          `json:"customer_id,omitempty"`
	ProjectID       string          `json:"project_id,omitempty"`
	UserID          string          `json:"user_id"`
	Kind            InteractionKind `json:"kind"`
	Direction       string          `json:"direction,omitempty"`
	Subject         string          `json:"subject,omitempty"`
	Body            string          `json:"body,omitempty"`
	OccurredAt      time.Time       `json:"occurred_at"`
	DurationSeconds int             `json:"duration_seconds,omitempty"`
}

// EntityKind implements Record.
func (*Interaction) EntityKind() EntityKind { return KindInteraction }

// AppointmentStatus is where an appointment stands.
type AppointmentStatus string

// The appointment statuses.
const (
	AppointmentScheduled AppointmentStatus = "scheduled"
	AppointmentCompleted AppointmentStatus = "completed"
	AppointmentCancelled AppointmentStatus = "cancelled"
	AppointmentNoShow    AppointmentStatus = "no_show"
)

// Appointment is a visit on a team member's calendar: an inspection, an
// estimate, an installation day.
type Appointment struct {
	Meta
	Tombstone
	LeadID     string            `json:"lead_id,omitempty"`
	CustomerID string            `json:"customer_id,omitempty"`
	ProjectID  string            `json:"project_id,omitempty"`
	AssignedTo string            `json:"assigned_to"`
	Kind       string            `json:"kind"`
	Title      string            `json:"title"`
	StartsAt   time.Time         `json:"starts_at"`
	EndsAt     time.Time         `json:"ends_at"`
	Status     AppointmentStatus `json:"status"`
	Location   string            `json:"location,omitempty"`
	Notes      string            `json:"notes,omitempty"`
}

// EntityKind implements Record.
func (*Appointment) EntityKind() EntityKind { return KindAppointment }

// PhotoKind says when in the job a photo was taken.
type PhotoKind string

// The photo kinds.
const (
	PhotoBefore PhotoKind = "before"
	PhotoDuring PhotoKind = "during"
	PhotoAfter  PhotoKind = "after"
)

// UploadState tracks a photo's bytes on their way to the object store.
type UploadState string

// The upload states.
const (
	UploadPending  UploadState = "pending"
	UploadPartial  UploadState = "uploading"
	UploadComplete UploadState = "uploaded"
)

// ProcessingState tracks a photo's derivatives.
type ProcessingState string

// The processing states.
const (
	ProcessingPending ProcessingState = "pending"
	ProcessingRunning ProcessingState = "processing"
	ProcessingReady   ProcessingState = "ready"
	ProcessingFailed  ProcessingState = "failed"
)

// Photo is the synced metadata of a job photo; the bytes live in the blob store.
type Photo struct {
	Meta
	Tombstone
	ProjectID       string          `json:"project_id"`
	AppointmentID   string          `json:"appointment_id,omitempty"`
	TakenBy         string          `json:"taken_by,omitempty"`
	Kind            PhotoKind       `json:"kind"`
	Caption         string          `json:"caption,omitempty"`
	TakenAt         time.Time       `json:"taken_at"`
	Latitude        *float64        `json:"latitude,omitempty"`
	Longitude       *float64        `json:"longitude,omitempty"`
	SHA256          string          `json:"sha256"`
	ByteSize        int64           `json:"byte_size"`
	ContentType     string          `json:"content_type,omitempty"`
	Width           int             `json:"width,omitempty"`
	Height          int             `json:"height,omitempty"`
	UploadState     UploadState     `json:"upload_state"`
	ProcessingState ProcessingState `json:"processing_state"`
	FailureReason   string          `json:"failure_reason,omitempty"`
	OriginalKey     string          `json:"-"`
	ThumbKey        string          `json:"-"`
	ScreenKey       string          `json:"-"`
}

// EntityKind implements Record.
func (*Photo) EntityKind() EntityKind { return KindPhoto }

// Review is a customer's public review of a finished job.
type Review struct {
	Meta
	CustomerID  string     `json:"customer_id"`
	ProjectID   string     `json:"project_id,omitempty"`
	Platform    string     `json:"platform"`
	Rating      int        `json:"rating"`
	Body        string     `json:"body,omitempty"`
	ReviewedAt  time.Time  `json:"reviewed_at"`
	Response    string     `json:"response,omitempty"`
	RespondedAt *time.Time `json:"responded_at,omitempty"`
}

// EntityKind implements Record.
func (*Review) EntityKind() EntityKind { return KindReview }

// Partner is a business that refers work to us for a commission
// (a realtor, an insurance agent, another trade).
type Partner struct {
	Meta
	Tombstone
	Name             string `json:"name"`
	Kind             string `json:"kind"`
	Email            string `json:"email,omitempty"`
	Phone            string `json:"phone,omitempty"`
	CommissionBasisP int    `json:"commission_basis_points"`
	Active           bool   `json:"active"`
}

// EntityKind implements Record.
func (*Partner) EntityKind() EntityKind { return KindPartner }

// Referral links a lead to whoever sent it: a partner or a past customer.
type Referral struct {
	Meta
	LeadID             string `json:"lead_id"`
	PartnerID          string `json:"partner_id,omitempty"`
	ReferrerCustomerID string `json:"referrer_customer_id,omitempty"`
	Status             string `json:"status"`
	CommissionCents    int64  `json:"commission_cents"`
}

// EntityKind implements Record.
func (*Referral) EntityKind() EntityKind { return KindReferral }

// Alert is the 2-minute response clock of one new lead: who was alerted at
// which escalation level, and when somebody answered.
type Alert struct {
	Meta
	LeadID          string     `json:"lead_id"`
	RecipientID     string     `json:"recipient_id"`
	Level           int        `json:"level"`
	EscalatedAt     *time.Time `json:"escalated_at,omitempty"`
	AcknowledgedAt  *time.Time `json:"acknowledged_at,omitempty"`
	AcknowledgedBy  string     `json:"acknowledged_by,omitempty"`
	RespondedAt     *time.Time `json:"responded_at,omitempty"`
	ResponseSeconds *int       `json:"response_seconds,omitempty"`
}

// EntityKind implements Record.
func (*Alert) EntityKind() EntityKind { return KindAlert }

// CampaignEnrollment is a lead or customer on a follow-up, review-request or
// referral-ask schedule.
type CampaignEnrollment struct {
	Meta
	Campaign      string     `json:"campaign"`
	LeadID        string     `json:"lead_id,omitempty"`
	CustomerID    string     `json:"customer_id,omitempty"`
	State         string     `json:"state"`
	StoppedReason string     `json:"stopped_reason,omitempty"`
	EnrolledAt    time.Time  `json:"enrolled_at"`
	StoppedAt     *time.Time `json:"stopped_at,omitempty"`
}

// EntityKind implements Record.
func (*CampaignEnrollment) EntityKind() EntityKind { return KindCampaignEnrollment }

// CampaignTouch is one scheduled step of an enrollment.
type CampaignTouch struct {
	Meta
	EnrollmentID string     `json:"enrollment_id"`
	Step         int        `json:"step"`
	Channel      string     `json:"channel"`
	DueAt        time.Time  `json:"due_at"`
	SentAt       *time.Time `json:"sent_at,omitempty"`
	Status       string     `json:"status"`
}

// EntityKind implements Record.
func (*CampaignTouch) EntityKind() EntityKind { return KindCampaignTouch }

// Notification is one message we sent (or tried to) to a team member or
// customer, on one channel.
type Notification struct {
	Meta
	UserID   string     `json:"user_id,omitempty"`
	Channel  string     `json:"channel"`
	Kind     string     `json:"kind"`
	Title    string     `json:"title"`
	Body     string     `json:"body"`
	RefKind  string     `json:"ref_kind,omitempty"`
	RefID    string     `json:"ref_id,omitempty"`
	Status   string     `json:"status"`
	SentAt   *time.Time `json:"sent_at,omitempty"`
	ErrorMsg string     `json:"error,omitempty"`
}

// EntityKind implements Record.
func (*Notification) EntityKind() EntityKind { return KindNotification }

// RefreshToken is one link of a sign-in session's rotation chain. Only the
// SHA-256 of the token is stored. A family is every token descended from one
// sign-in; presenting a token that was already rotated revokes the family.
type RefreshToken struct {
	ID        string     `json:"id"`
	OrgID     string     `json:"org_id"`
	UserID    string     `json:"user_id"`
	FamilyID  string     `json:"family_id"`
	TokenHash string     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}
