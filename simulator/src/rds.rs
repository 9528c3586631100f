//! RDS over the awsQuery protocol: `DescribeDBInstances` and `DescribeDBClusters`, XML answers
//! and `ErrorResponse` errors.

use axum::http::StatusCode;
use axum::response::Response;

use crate::caller::Caller;
use crate::fleet::{
    DEFAULT_MASTER_SECRET_KEY, DatabaseKind, PlacedDatabase, database_arn, database_resource_id,
};
use crate::query::{self, Form, Page, Stop, element};
use crate::state::{Refusal, Shared};
use crate::store::Databases;
use crate::sts::{escape, xml_response};

pub(crate) const NAMESPACE: &str = "http://rds.amazonaws.com/doc/2014-10-31/";
pub(crate) const VERSION: &str = "2014-10-31";
/// `MaxRecords` bounds and default.
pub const RDS_MIN_RECORDS: usize = 20;
pub const RDS_MAX_RECORDS: usize = 100;

struct RdsError {
    status: StatusCode,
    kind: &'static str,
    code: &'static str,
    message: String,
}

impl RdsError {
    fn sender(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: "Sender",
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::sender(StatusCode::BAD_REQUEST, "InvalidParameterValue", message)
    }

    fn into_response_with(self, request_id: &str) -> Response {
        let body = format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{}</Type>\n    \
             <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
             <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            self.kind,
            self.code,
            escape(&self.message)
        );
        xml_response(self.status, body, request_id)
    }
}

fn stopped(stop: Stop, action: &str, caller: Option<&Caller>) -> RdsError {
    match stop {
        Stop::UnknownKey => RdsError::sender(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
        Stop::ExpiredKey => RdsError::sender(
            StatusCode::FORBIDDEN,
            "ExpiredToken",
            "The security token included in the request is expired",
        ),
        Stop::Throttled => RdsError::sender(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
        Stop::Denied => {
            let (principal, account, region) = caller.map_or(("", "", ""), |c| {
                (
                    c.principal_arn.as_str(),
                    c.account.as_str(),
                    c.region.as_str(),
                )
            });
            let resource = if action == "DescribeDBClusters" {
                "cluster"
            } else {
                "db"
            };
            RdsError::sender(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                format!(
                    "User: {principal} is not authorized to perform: rds:{action} on resource: \
                     arn:aws:rds:{region}:{account}:{resource}:* because no identity-based policy \
                     allows the rds:{action} action"
                ),
            )
        }
        Stop::Internal => RdsError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "Receiver",
            code: "InternalFailure",
            message: "An internal error has occurred. Please try your query again at a later time."
                .to_string(),
        },
    }
}

pub(crate) async fn serve(
    shared: &Shared,
    caller: Option<Caller>,
    refusal: Option<Refusal>,
    body: &[u8],
    request_id: &str,
) -> Response {
    let form = Form::parse(body);
    let Some(action) = form.get("Action").map(str::to_string) else {
        return RdsError::sender(StatusCode::BAD_REQUEST, "MissingAction", "Missing Action")
            .into_response_with(request_id);
    };
    let fault = match query::gate(shared, "rds", &action, caller.as_ref(), refusal).await {
        Ok(fault) => fault,
        Err(stop) => {
            return stopped(stop, &action, caller.as_ref()).into_response_with(request_id);
        }
    };
    let Some(caller) = caller else {
        return stopped(Stop::UnknownKey, &action, None).into_response_with(request_id);
    };
    let version = form.get("Version").unwrap_or_default();
    let kind = match action.as_str() {
        "DescribeDBInstances" if version == VERSION => DatabaseKind::Instance,
        "DescribeDBClusters" if version == VERSION => DatabaseKind::Cluster,
        other => {
            return RdsError::sender(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                format!("Could not find operation {other} for version {version}"),
            )
            .into_response_with(request_id);
        }
    };
    match describe(shared, &caller, kind, &form, fault, request_id) {
        Ok(body) => xml_response(StatusCode::OK, query::cut(body, fault), request_id),
        Err(error) => error.into_response_with(request_id),
    }
}

/// What the two operations differ in.
struct Shape {
    action: &'static str,
    list: &'static str,
    member: &'static str,
    id_param: &'static str,
    token_tag: &'static str,
}

const INSTANCES: Shape = Shape {
    action: "DescribeDBInstances",
    list: "DBInstances",
    member: "DBInstance",
    id_param: "DBInstanceIdentifier",
    token_tag: "rds-instances",
};

const CLUSTERS: Shape = Shape {
    action: "DescribeDBClusters",
    list: "DBClusters",
    member: "DBCluster",
    id_param: "DBClusterIdentifier",
    token_tag: "rds-clusters",
};

fn describe(
    shared: &Shared,
    caller: &Caller,
    kind: DatabaseKind,
    form: &Form,
    fault: Option<crate::state::Fault>,
    request_id: &str,
) -> Result<String, RdsError> {
    let shape = match kind {
        DatabaseKind::Instance => &INSTANCES,
        DatabaseKind::Cluster => &CLUSTERS,
    };
    let size = match form.get("MaxRecords") {
        None => RDS_MAX_RECORDS,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (RDS_MIN_RECORDS as i64..=RDS_MAX_RECORDS as i64).contains(&n) => n as usize,
            _ => {
                return Err(RdsError::invalid(format!(
                    "Invalid value {text} for MaxRecords. Must be between {RDS_MIN_RECORDS} and \
                     {RDS_MAX_RECORDS}"
                )));
            }
        },
    };
    let marker = form.get("Marker");
    let start = match marker {
        None => None,
        Some(marker) => Some(
            query::token_start(marker, shape.token_tag)
                .ok_or_else(|| RdsError::invalid(format!("Invalid marker: {marker}")))?,
        ),
    };
    let world = shared.world();
    let empty = Databases::default();
    let databases = world
        .databases(&caller.account, &caller.region)
        .unwrap_or(&empty);
    let wanted = form.get(shape.id_param).map(|id| {
        // An ARN names the database too.
        id.rsplit_once(if kind == DatabaseKind::Instance {
            ":db:"
        } else {
            ":cluster:"
        })
        .map_or(id, |(_, name)| name)
        .to_string()
    });
    let of_kind = databases.of_kind(kind);
    if let Some(id) = &wanted
        && !of_kind.contains_key(id)
    {
        return Err(match kind {
            DatabaseKind::Instance => RdsError::sender(
                StatusCode::NOT_FOUND,
                "DBInstanceNotFound",
                format!("DBInstance {id} not found."),
            ),
            DatabaseKind::Cluster => RdsError::sender(
                StatusCode::NOT_FOUND,
                "DBClusterNotFoundFault",
                format!("DBCluster {id} not found."),
            ),
        });
    }
    let items = of_kind
        .iter()
        .filter(|(id, _)| wanted.as_ref().is_none_or(|w| w == *id))
        .map(|(id, placed)| (id.clone(), placed));
    let mut page: Page =
        query::page(
            items,
            start.as_deref(),
            size,
            shape.token_tag,
            |placed| match kind {
                DatabaseKind::Instance => instance_xml(placed, databases),
                DatabaseKind::Cluster => cluster_xml(placed, databases),
            },
        );
    query::shape(&mut page, fault, marker);
    let mut body = format!(
        "<{action}Response xmlns=\"{NAMESPACE}\">\n  <{action}Result>\n    <{list}>\n",
        action = shape.action,
        list = shape.list
    );
    for entry in &page.entries {
        body.push_str(&format!(
            "      <{member}>{entry}</{member}>\n",
            member = shape.member
        ));
    }
    body.push_str(&format!("    </{}>\n", shape.list));
    if let Some(next) = &page.next {
        body.push_str(&format!("    {}\n", element("Marker", next)));
    }
    body.push_str(&format!(
        "  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  \
         </ResponseMetadata>\n</{action}Response>\n",
        action = shape.action
    ));
    Ok(body)
}

fn master_user_secret(placed: &PlacedDatabase) -> String {
    let Some(arn) = &placed.master_secret_arn else {
        return String::new();
    };
    let key = placed
        .database
        .master_secret_kms_key
        .as_deref()
        .unwrap_or(DEFAULT_MASTER_SECRET_KEY);
    format!(
        "<MasterUserSecret>{}<SecretStatus>active</SecretStatus>{}</MasterUserSecret>",
        element("SecretArn", arn),
        element("KmsKeyId", key)
    )
}

fn tag_list(tags: &[(String, String)]) -> String {
    if tags.is_empty() {
        return "<TagList/>".to_string();
    }
    let tags: String = tags
        .iter()
        .map(|(key, value)| {
            format!(
                "<Tag>{}{}</Tag>",
                element("Key", key),
                element("Value", value)
            )
        })
        .collect();
    format!("<TagList>{tags}</TagList>")
}

fn instance_xml(placed: &PlacedDatabase, databases: &Databases) -> String {
    let spec = &placed.database;
    let (account, region) = (placed.account.as_str(), placed.region.as_str());
    let mut xml = String::new();
    xml.push_str(&element("DBInstanceIdentifier", &spec.identifier));
    xml.push_str(&element(
        "DBInstanceArn",
        &database_arn(account, region, spec),
    ));
    xml.push_str(&element("DBInstanceClass", spec.effective_instance_class()));
    xml.push_str(&element("Engine", spec.effective_engine()));
    xml.push_str(&element("EngineVersion", spec.effective_engine_version()));
    xml.push_str(&element("DBInstanceStatus", &spec.status));
    xml.push_str(&element("MasterUsername", spec.effective_master_username()));
    xml.push_str(&element(
        "DbiResourceId",
        &database_resource_id(account, region, spec),
    ));
    if let Some(cluster) = &spec.cluster {
        xml.push_str(&element("DBClusterIdentifier", cluster));
    }
    if let Some(source) = &spec.read_replica_of {
        xml.push_str(&element("ReadReplicaSourceDBInstanceIdentifier", source));
    }
    let replicas: String = databases
        .instances
        .values()
        .filter(|other| other.database.read_replica_of.as_deref() == Some(&spec.identifier))
        .map(|other| {
            element(
                "ReadReplicaDBInstanceIdentifier",
                &other.database.identifier,
            )
        })
        .collect();
    if replicas.is_empty() {
        xml.push_str("<ReadReplicaDBInstanceIdentifiers/>");
    } else {
        xml.push_str(&format!(
            "<ReadReplicaDBInstanceIdentifiers>{replicas}</ReadReplicaDBInstanceIdentifiers>"
        ));
    }
    xml.push_str(&master_user_secret(placed));
    xml.push_str(&tag_list(&spec.tags));
    xml
}

fn cluster_xml(placed: &PlacedDatabase, databases: &Databases) -> String {
    let spec = &placed.database;
    let (account, region) = (placed.account.as_str(), placed.region.as_str());
    let mut xml = String::new();
    xml.push_str(&element("DBClusterIdentifier", &spec.identifier));
    xml.push_str(&element(
        "DBClusterArn",
        &database_arn(account, region, spec),
    ));
    xml.push_str(&element("Engine", spec.effective_engine()));
    xml.push_str(&element("EngineVersion", spec.effective_engine_version()));
    xml.push_str(&element("Status", &spec.status));
    xml.push_str(&element("MasterUsername", spec.effective_master_username()));
    xml.push_str(&element(
        "DbClusterResourceId",
        &database_resource_id(account, region, spec),
    ));
    let mut members: Vec<&PlacedDatabase> = databases
        .instances
        .values()
        .filter(|member| member.database.cluster.as_deref() == Some(&spec.identifier))
        .collect();
    // The writer first, as AWS lists it.
    members.sort_by_key(|member| !member.cluster_writer);
    if members.is_empty() {
        xml.push_str("<DBClusterMembers/>");
    } else {
        xml.push_str("<DBClusterMembers>");
        for member in members {
            xml.push_str(&format!(
                "<DBClusterMember>{}{}</DBClusterMember>",
                element("DBInstanceIdentifier", &member.database.identifier),
                element("IsClusterWriter", &member.cluster_writer.to_string())
            ));
        }
        xml.push_str("</DBClusterMembers>");
    }
    xml.push_str(&master_user_secret(placed));
    xml.push_str(&tag_list(&spec.tags));
    xml
}
