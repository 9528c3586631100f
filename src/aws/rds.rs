//! RDS: `DescribeDBInstances` and `DescribeDBClusters`, the metadata of
//! databases, over the awsQuery protocol (see [`super::query`]). Nothing
//! here reads a password: `MasterUserSecret` only names the secret.

use std::future::Future;
use std::sync::Arc;

use aws_smithy_xml::decode::ScopedDecoder;

use super::pages::Pages;
use super::query::{QueryRequest, RDS, read_answer, text};
use super::{ClientFactory, SourceError, Target};
use crate::databases::{DatabaseKind, DatabaseRecord};

/// The largest page both operations serve (`MaxRecords`, 20 to 100).
pub const PAGE_SIZE: u32 = 100;

/// Pages of one listing before it is taken to go round: RDS allows 40
/// instances and 40 clusters per account and region by default, and a few
/// thousand at most on request.
pub const MAX_PAGES: usize = 1_000;

/// Entries read of one page: RDS serves at most `PAGE_SIZE`.
pub const MAX_ENTRIES_PER_PAGE: usize = 1_000;

/// One entry of either listing, before instances are sorted from members.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DatabaseEntry {
    pub identifier: Option<String>,
    pub engine: Option<String>,
    pub master_secret_arn: Option<String>,
    /// An instance's `DBClusterIdentifier`: it is a member of that cluster.
    pub cluster: Option<String>,
    pub replica_of: Option<String>,
}

/// One page of either listing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DatabasePage {
    pub entries: Vec<DatabaseEntry>,
    pub marker: Option<String>,
}

/// The RDS seam: what the source reads of one target.
pub trait RdsApi: Send + Sync + 'static {
    fn describe_db_instances(
        &self,
        target: &Target,
        marker: Option<String>,
    ) -> impl Future<Output = Result<DatabasePage, SourceError>> + Send;

    fn describe_db_clusters(
        &self,
        target: &Target,
        marker: Option<String>,
    ) -> impl Future<Output = Result<DatabasePage, SourceError>> + Send;
}

/// Every database of the target: its clusters, and its instances outside
/// any cluster, sorted by identifier then kind; `turn` is awaited before
/// each page. Returns them and how many entries were left out as unusable
/// (no identifier).
pub async fn list_databases<A: RdsApi, F: Future<Output = ()>>(
    api: &A,
    target: &Target,
    mut turn: impl FnMut() -> F,
) -> Result<(Vec<DatabaseRecord>, usize), SourceError> {
    let account_id: Arc<str> = Arc::from(target.account_id.as_str());
    let region: Arc<str> = Arc::from(target.region.as_str());
    let mut databases = Vec::new();
    let mut skipped = 0usize;
    for kind in [DatabaseKind::Cluster, DatabaseKind::Instance] {
        let operation = match kind {
            DatabaseKind::Cluster => "DescribeDBClusters",
            DatabaseKind::Instance => "DescribeDBInstances",
        };
        let mut pages = Pages::new(operation, MAX_PAGES);
        let mut marker = None;
        loop {
            turn().await;
            let page = match kind {
                DatabaseKind::Cluster => api.describe_db_clusters(target, marker.take()).await?,
                DatabaseKind::Instance => api.describe_db_instances(target, marker.take()).await?,
            };
            for entry in page.entries {
                // A member instance is judged through its cluster.
                if kind == DatabaseKind::Instance && entry.cluster.is_some() {
                    continue;
                }
                let Some(identifier) = entry.identifier.filter(|id| !id.is_empty()) else {
                    skipped = skipped.saturating_add(1);
                    continue;
                };
                databases.push(DatabaseRecord {
                    account_id: account_id.clone(),
                    region: region.clone(),
                    identifier,
                    kind,
                    engine: Arc::from(entry.engine.unwrap_or_default()),
                    master_secret_arn: entry.master_secret_arn.filter(|arn| !arn.is_empty()),
                    replica_of: entry.replica_of.filter(|source| !source.is_empty()),
                });
            }
            match pages.next_token(page.marker.as_deref())? {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
    }
    databases.sort_by(|a, b| (&a.identifier, a.kind).cmp(&(&b.identifier, b.kind)));
    databases.dedup_by(|a, b| a.identifier == b.identifier && a.kind == b.kind);
    Ok((databases, skipped))
}

/// Reads a `DescribeDBInstances` answer.
pub fn read_instances(body: &[u8]) -> Result<DatabasePage, String> {
    read_page(body, DatabaseKind::Instance)
}

/// Reads a `DescribeDBClusters` answer.
pub fn read_clusters(body: &[u8]) -> Result<DatabasePage, String> {
    read_page(body, DatabaseKind::Cluster)
}

/// `<…Response><…Result><list><item>…</item></list><Marker/></…Result></…Response>`
fn read_page(body: &[u8], kind: DatabaseKind) -> Result<DatabasePage, String> {
    let (result, list, item) = match kind {
        DatabaseKind::Instance => ("DescribeDBInstancesResult", "DBInstances", "DBInstance"),
        DatabaseKind::Cluster => ("DescribeDBClustersResult", "DBClusters", "DBCluster"),
    };
    read_answer(body, |root| {
        let mut page = DatabasePage::default();
        let mut found_result = false;
        while let Some(mut tag) = root.next_tag() {
            if tag.start_el().local() != result {
                continue;
            }
            found_result = true;
            while let Some(mut field) = tag.next_tag() {
                match field.start_el().local() {
                    "Marker" => page.marker = Some(text(&mut field)?).filter(|m| !m.is_empty()),
                    name if name == list => {
                        while let Some(mut entry) = field.next_tag() {
                            if entry.start_el().local() != item {
                                continue;
                            }
                            if page.entries.len() >= MAX_ENTRIES_PER_PAGE {
                                return Err(format!(
                                    "more than {MAX_ENTRIES_PER_PAGE} entries on one page"
                                ));
                            }
                            page.entries.push(read_entry(&mut entry, kind)?);
                        }
                    }
                    _ => {}
                }
            }
        }
        if !found_result {
            return Err(format!("no {result} in the answer"));
        }
        Ok(page)
    })
}

/// One `DBInstance` or `DBCluster`: in an instance, `DBClusterIdentifier`
/// names the cluster it is a member of.
fn read_entry(
    entry: &mut ScopedDecoder<'_, '_>,
    kind: DatabaseKind,
) -> Result<DatabaseEntry, String> {
    let mut read = DatabaseEntry::default();
    while let Some(mut field) = entry.next_tag() {
        match (field.start_el().local(), kind) {
            ("DBInstanceIdentifier", DatabaseKind::Instance)
            | ("DBClusterIdentifier", DatabaseKind::Cluster) => {
                read.identifier = Some(text(&mut field)?);
            }
            ("DBClusterIdentifier", DatabaseKind::Instance) => {
                read.cluster = Some(text(&mut field)?).filter(|id| !id.is_empty());
            }
            ("Engine", _) => read.engine = Some(text(&mut field)?),
            ("ReadReplicaSourceDBInstanceIdentifier", DatabaseKind::Instance) => {
                read.replica_of = Some(text(&mut field)?);
            }
            ("MasterUserSecret", _) => {
                while let Some(mut secret) = field.next_tag() {
                    if secret.start_el().local() == "SecretArn" {
                        read.master_secret_arn = Some(text(&mut secret)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(read)
}

impl RdsApi for ClientFactory {
    async fn describe_db_instances(
        &self,
        target: &Target,
        marker: Option<String>,
    ) -> Result<DatabasePage, SourceError> {
        self.query(
            RDS,
            target,
            paged("DescribeDBInstances", marker),
            read_instances,
        )
        .await
    }

    async fn describe_db_clusters(
        &self,
        target: &Target,
        marker: Option<String>,
    ) -> Result<DatabasePage, SourceError> {
        self.query(
            RDS,
            target,
            paged("DescribeDBClusters", marker),
            read_clusters,
        )
        .await
    }
}

fn paged(action: &'static str, marker: Option<String>) -> QueryRequest {
    let request = QueryRequest::new(action).param("MaxRecords", PAGE_SIZE.to_string());
    match marker {
        Some(marker) => request.param("Marker", marker),
        None => request,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_page_gives_identifiers_engines_secrets_and_clusters() {
        let body = br#"<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <DescribeDBInstancesResult>
    <DBInstances>
      <DBInstance>
        <DBInstanceIdentifier>orders</DBInstanceIdentifier>
        <Engine>postgres</Engine>
        <MasterUserSecret><SecretArn>arn:aws:secretsmanager:eu-west-1:111111111111:secret:rds!db-1-AbCdEf</SecretArn><SecretStatus>active</SecretStatus></MasterUserSecret>
        <TagList><Tag><Key>team</Key><Value>payments</Value></Tag></TagList>
      </DBInstance>
      <DBInstance>
        <DBInstanceIdentifier>ledger-1</DBInstanceIdentifier>
        <Engine>aurora-postgresql</Engine>
        <DBClusterIdentifier>ledger</DBClusterIdentifier>
      </DBInstance>
      <DBInstance>
        <DBInstanceIdentifier>orders-replica</DBInstanceIdentifier>
        <Engine>postgres</Engine>
        <ReadReplicaSourceDBInstanceIdentifier>orders</ReadReplicaSourceDBInstanceIdentifier>
      </DBInstance>
    </DBInstances>
    <Marker>page-2</Marker>
  </DescribeDBInstancesResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</DescribeDBInstancesResponse>"#;
        let page = read_instances(body).expect("a valid page");
        assert_eq!(page.marker.as_deref(), Some("page-2"));
        assert_eq!(page.entries.len(), 3);
        assert_eq!(page.entries[0].identifier.as_deref(), Some("orders"));
        assert_eq!(page.entries[0].engine.as_deref(), Some("postgres"));
        assert!(
            page.entries[0]
                .master_secret_arn
                .as_deref()
                .is_some_and(|arn| arn.ends_with("rds!db-1-AbCdEf"))
        );
        assert_eq!(page.entries[0].cluster, None);
        assert_eq!(page.entries[1].cluster.as_deref(), Some("ledger"));
        assert_eq!(page.entries[1].master_secret_arn, None);
        assert_eq!(page.entries[2].replica_of.as_deref(), Some("orders"));
    }

    #[test]
    fn a_cluster_page_names_clusters_by_their_identifier() {
        let body = br#"<DescribeDBClustersResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <DescribeDBClustersResult><DBClusters><DBCluster>
    <DBClusterIdentifier>ledger</DBClusterIdentifier><Engine>aurora-postgresql</Engine>
    <DBClusterMembers><DBClusterMember><DBInstanceIdentifier>ledger-1</DBInstanceIdentifier></DBClusterMember></DBClusterMembers>
  </DBCluster></DBClusters></DescribeDBClustersResult>
</DescribeDBClustersResponse>"#;
        let page = read_clusters(body).expect("a valid page");
        assert_eq!(page.marker, None);
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.entries[0].identifier.as_deref(), Some("ledger"));
        assert_eq!(page.entries[0].master_secret_arn, None);
    }

    #[test]
    fn answers_that_are_not_pages_are_refused() {
        assert!(read_instances(b"not xml").is_err());
        assert!(read_instances(b"<Other/>").is_err());
        assert!(read_clusters(&[0xff, 0x00]).is_err());
        let mut many = String::from("<R><DescribeDBClustersResult><DBClusters>");
        for _ in 0..=MAX_ENTRIES_PER_PAGE {
            many.push_str("<DBCluster><DBClusterIdentifier>a</DBClusterIdentifier></DBCluster>");
        }
        many.push_str("</DBClusters></DescribeDBClustersResult></R>");
        assert!(read_clusters(many.as_bytes()).is_err());
    }
}
