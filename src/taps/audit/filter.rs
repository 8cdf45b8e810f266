//! TEMPORARY placeholder until the filter module lands (being written).
pub struct Filter;
impl Filter {
    pub fn parse(_text: &str) -> Result<Filter, String> {
        Err("not yet".into())
    }
    pub fn matches(&self, _event: &bson::Document) -> bool {
        true
    }
}
