//! Resource groups (Microsoft.Resources): read, and create or merge tags.

use super::{tags_of, Arm, Result};
use crate::azure::error::AzureError;
use crate::model::*;
use serde_json::json;

impl Arm {
    /// Reads a resource group (None when absent).
    pub async fn get_resource_group(&self, name: &str) -> Result<Option<ObservedRg>> {
        let op = format!("read resource group {name}");
        let r = self
            .resources
            .resource_groups_client()
            .get(name, &self.subscription)
            .send()
            .await;
        Ok(Self::json_of(&op, r).await?.map(|v| ObservedRg {
            location: v["location"].as_str().unwrap_or_default().to_string(),
            tags: tags_of(&v["tags"]),
        }))
    }

    /// Creates a resource group, or merges tags into an existing one (others' tags are kept).
    pub async fn put_resource_group(&self, spec: &RgSpec) -> Result<()> {
        let op = format!("create resource group {}", spec.name);
        let mut tags = self
            .get_resource_group(&spec.name)
            .await?
            .map(|o| o.tags)
            .unwrap_or_default();
        tags.extend(spec.tags.clone());
        let mut rg = azure_mgmt_resources::package_resources_2021_04::models::ResourceGroup::new(
            spec.location.clone(),
        );
        rg.tags = Some(json!(tags));
        self.resources
            .resource_groups_client()
            .create_or_update(&spec.name, rg, &self.subscription)
            .send()
            .await
            .map_err(|e| AzureError::from_core(op, &e))?;
        Ok(())
    }
}
